"""Input preparation: read any common image file, find and align the face, and estimate its camera.

The aligned crop and its 25-number camera label together form a :class:`Portrait`, the target of
both inversion stages. Faces are found by :func:`panohead.data.align.align_portrait` (the dataset
tool's stage-1 alignment); a pre-aligned image with a known camera skips detection entirely. The user
may nudge the crop (zoom, shift) and the camera (yaw, pitch) before inverting.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from panohead.camera import LABEL_SIZE, label_to_orbit
from panohead.config import GeneratorConfig
from panohead.data.align import MIN_PHOTO_SIDE, AlignedPortrait, align_portrait, check_photo_size, orbit_angles
from panohead.errors import MissingCapability, one_line
from panohead.images import open_image
from panohead.views.camera import orbit_camera

MIN_CROP_SIDE = 8  # a pre-aligned crop smaller than this holds no recognisable face
MANUAL_HINT = "give --yaw/--pitch (or --label) to use the image as a pre-aligned crop"


@dataclass(frozen=True)
class Portrait:
    """An aligned square face crop and the camera label (25,) it was seen from."""

    crop: Image.Image
    label: np.ndarray
    message: str = ""

    @property
    def yaw_degrees(self) -> float:
        return orbit_angles(self.label)[0]

    @property
    def pitch_degrees(self) -> float:
        return orbit_angles(self.label)[1]


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file as RGB with its EXIF orientation applied (phones store portraits rotated).

    Transparent pixels are composited on white. Raises a one-line ``ValueError`` naming the file
    when it is not an image, ``FileNotFoundError`` when it does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    try:
        with open_image(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        detail = "unrecognised format" if isinstance(error, UnidentifiedImageError) else one_line(error)
        raise ValueError(f"{path}: not a readable image file ({detail}); use a jpg, png or webp photo") from None
    return flatten_alpha(image)


def flatten_alpha(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB, compositing transparency on white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square of ``image`` (a pre-aligned crop that is not square keeps its centre)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def camera_label(
    yaw_degrees: float,
    pitch_degrees: float,
    config: GeneratorConfig,
    radius: float | None = None,
    focal: float | None = None,
) -> np.ndarray:
    """(25,) orbit label looking at the model's pivot; radius and focal default to the model's."""
    label = orbit_camera(yaw_degrees, pitch_degrees, config, radius=radius or None, focal=focal or None)
    return label[0].numpy().astype(np.float32)


def parse_label(text: str) -> np.ndarray:
    """'v1,v2,...,v25' (commas or spaces) -> (25,) float32, with a one-line error otherwise."""
    try:
        values = [float(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"--label {text[:40]!r}...: not a list of numbers") from None
    if len(values) != LABEL_SIZE:
        raise ValueError(
            f"--label has {len(values)} numbers, a camera label needs {LABEL_SIZE} (16 cam2world + 9 intrinsics)"
        )
    if not all(map(math.isfinite, values)):
        raise ValueError("--label holds NaN or infinity; a camera label needs 25 finite numbers")
    return np.asarray(values, dtype=np.float32)


def prepare_portrait(
    image: Image.Image,
    config: GeneratorConfig,
    label: np.ndarray | None = None,
    yaw: float | None = None,
    pitch: float | None = None,
    face: int | None = None,
) -> Portrait:
    """Turn a photo into an inversion target.

    With ``label`` or ``yaw``/``pitch`` (degrees) the image is taken as already aligned (its centred
    square is used as is). Otherwise the face is detected and aligned; a photo without a detectable
    face raises a one-line ``ValueError`` that points at the manual path. ``face`` (1 = the most
    confident) picks one of several faces. Images too small to hold a head are refused.
    """
    given = label is not None or yaw is not None or pitch is not None
    check_photo_size(*image.size, minimum=MIN_CROP_SIDE if given else MIN_PHOTO_SIDE)
    if given:
        if label is None:
            label = camera_label(yaw or 0.0, pitch or 0.0, config)
        return Portrait(
            centre_square(image),
            np.asarray(label, dtype=np.float32).reshape(LABEL_SIZE),
            "pre-aligned image with the given camera",
        )
    aligned = align_face(image, config, face)
    return Portrait(
        aligned.crop.convert("RGB"), np.asarray(aligned.label, dtype=np.float32).reshape(LABEL_SIZE), aligned.message
    )


def align_face(image: Image.Image, config: GeneratorConfig, face: int | None = None) -> AlignedPortrait:
    """Stage-1 alignment at the model's resolution; a one-line ``ValueError`` pointing at the manual
    path when there is no usable face or no face detector."""
    try:
        return align_portrait(image, resolution=config.image_resolution, face_index=None if face is None else face - 1)
    except ImportError as error:  # its landmark detector (dlib) or OpenCV is not installed
        raise ValueError(f"automatic face alignment is not available ({error}); {MANUAL_HINT}") from None
    except (ValueError, MissingCapability) as error:
        raise ValueError(f"{one_line(error)}; {MANUAL_HINT}") from None


def adjust_portrait(
    portrait: Portrait,
    config: GeneratorConfig,
    zoom: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    yaw: float | None = None,
    pitch: float | None = None,
) -> Portrait:
    """User corrections: ``zoom`` > 1 crops tighter, ``shift`` (x, y) moves the crop by fractions of its
    size (x right, y down), ``yaw``/``pitch`` (degrees) replace the camera while keeping its radius and focal.

    Area outside the original crop (zoom < 1 or large shifts) is filled with the crop's border colour.
    """
    if not 0.25 <= zoom <= 4.0:
        raise ValueError(f"zoom {zoom}: must lie between 0.25 and 4")
    crop = portrait.crop
    if zoom != 1.0 or shift != (0.0, 0.0):
        side = crop.size[0]
        half = side / (2 * zoom)
        cx, cy = side / 2 + shift[0] * side, side / 2 + shift[1] * side
        pixels = np.asarray(crop)
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        fill = tuple(int(v) for v in np.median(border, axis=0))
        crop = crop.transform(
            crop.size,
            Image.Transform.EXTENT,
            (cx - half, cy - half, cx + half, cy + half),
            resample=Image.Resampling.BICUBIC,
            fillcolor=fill,
        )
    label = portrait.label
    if yaw is not None or pitch is not None:
        orbit = label_to_orbit(torch.as_tensor(label[None], dtype=torch.float32))
        label = camera_label(
            portrait.yaw_degrees if yaw is None else yaw,
            portrait.pitch_degrees if pitch is None else pitch,
            config,
            float(orbit.radius[0]),
            float(orbit.focal[0]),
        )
    return replace(portrait, crop=crop, label=label)


def target_tensor(crop: Image.Image, resolution: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Square crop -> (1, 3, resolution, resolution) float tensor in [-1, 1], the generator's image range."""
    if crop.size != (resolution, resolution):
        crop = crop.resize((resolution, resolution), Image.Resampling.LANCZOS)
    array = np.asarray(crop.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].to(device)
