"""Image conversions between the generator's tensors and files."""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from panohead.atomic import atomic_path
from panohead.errors import UserError

# Pillow's own bound (about 89 million pixels, 268 MB as RGB): larger images are refused by
# open_image instead of Pillow's warning (which would print a second line) or its late error.
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485  # (its default, where a caller has lifted it)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageTooLarge(UserError):
    """An image header announces more pixels than :data:`MAX_PIXELS` (a decompression bomb, or a
    photo far larger than any of our tools needs)."""


def open_image(file: str | os.PathLike | BinaryIO) -> Image.Image:
    """``Image.open`` (lazy: the header only) that refuses images of more than :data:`MAX_PIXELS`
    pixels before any pixel is decoded; other failures raise as Pillow raises them."""
    try:
        image = Image.open(file)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"the image announces more than {2 * MAX_PIXELS} pixels (a decompression bomb?)") from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise ImageTooLarge(
            f"the image is {image.width}x{image.height} pixels, more than the {MAX_PIXELS} "
            f"this tool opens (a decompression bomb?)"
        )
    return image


def to_uint8(image: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """(3|1, H, W) or (B, C, H, W) float tensor -> (H, W, C) or (B, H, W, C) uint8 array."""
    low, high = value_range
    scaled = ((image.detach().float() - low) / (high - low) * 255.0).round().clamp(0, 255).to(torch.uint8)
    return scaled.movedim(-3, -1).cpu().numpy()


def save_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an (H, W), (H, W, 3) or (H, W, 4) uint8 array atomically; the format follows the suffix."""
    with atomic_path(path) as temp:
        Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array).save(
            temp, format=Image.registered_extensions().get(os.path.splitext(str(path))[1].lower(), "PNG")
        )


def image_grid(images: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized (H, W, C) images row by row."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    height, width, channels = images[0].shape
    rows = (len(images) + columns - 1) // columns
    grid = np.zeros((rows * height, columns * width, channels), dtype=images[0].dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return grid


def labelled_grid(
    images: list[np.ndarray], columns: int, row_labels: list[str], column_labels: list[str]
) -> np.ndarray:
    """:func:`image_grid` of (H, W, 3) images with a white band of column labels above it and one of row
    labels to its left, in black text sized to the images (Pillow's bundled font: nothing to install)."""
    grid = Image.fromarray(image_grid(images, columns))
    height, width = images[0].shape[:2]
    font = ImageFont.load_default(size=max(10, min(height, width) // 10))
    pad = max(2, round(font.size / 3))
    text_height = max(font.getbbox(text)[3] for text in row_labels + column_labels)
    top = text_height + 2 * pad
    left = max(round(font.getlength(text)) for text in row_labels) + 2 * pad
    canvas = Image.new("RGB", (left + grid.width, top + grid.height), "white")
    canvas.paste(grid, (left, top))
    draw = ImageDraw.Draw(canvas)
    for column, text in enumerate(column_labels):
        draw.text((left + (column + 0.5) * width, pad), text, fill="black", font=font, anchor="mt")
    for row, text in enumerate(row_labels):
        draw.text((pad, top + (row + 0.5) * height), text, fill="black", font=font, anchor="lm")
    return np.asarray(canvas)
