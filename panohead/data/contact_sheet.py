"""A contact sheet of an alignment run: one tile per photo, to check hundreds of photos at a glance.

Each tile shows the crop, the crop with its person mask (hair and shoulders tinted, background
darkened) and the estimated camera as text; a skipped photo shows its thumbnail and the reason.
Tiles are kept as small thumbnails while the run goes on, so a large folder does not fill memory.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from panohead.atomic import write_bytes_atomic

TILE = 128  # pixels per picture in a tile
TEXT_ROWS = 3
ROW_HEIGHT = 12
COLUMNS = 5
BACKGROUND = (32, 32, 32)
SKIPPED_COLOUR = (255, 120, 100)
UNSURE_COLOUR = (255, 195, 80)
TEXT_COLOUR = (235, 235, 235)


def mask_overlay(crop: Image.Image, mask: Image.Image) -> Image.Image:
    """The crop with the mask shown: person tinted green at the edge of the mask, background darkened to 25%."""
    picture = np.asarray(crop.convert("RGB"), np.float32)
    weight = np.asarray(mask.convert("L").resize(crop.size), np.float32)[..., None] / 255.0
    tinted = picture * 0.6 + np.array([0.0, 255.0, 0.0]) * 0.4
    shown = tinted * weight + picture * 0.25 * (1.0 - weight)
    return Image.fromarray(np.clip(shown + 0.5, 0, 255).astype(np.uint8))


class ContactSheet:
    """Collects one tile per photo (:meth:`add_aligned`, :meth:`add_skipped`) and writes a PNG grid."""

    def __init__(self, columns: int = COLUMNS):
        self.columns = columns
        self.tiles: list[Image.Image] = []
        self.font = ImageFont.load_default()

    def _tile(self, pictures: list[Image.Image], lines: list[str], colour: tuple[int, int, int]) -> Image.Image:
        tile = Image.new("RGB", (2 * TILE, TILE + TEXT_ROWS * ROW_HEIGHT + 4), BACKGROUND)
        for index, picture in enumerate(pictures):
            scale = TILE / max(picture.size)  # small crops are enlarged, photos shrunk
            picture = picture.convert("RGB").resize(
                (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            )
            tile.paste(picture, (index * TILE + (TILE - picture.width) // 2, (TILE - picture.height) // 2))
        draw = ImageDraw.Draw(tile)
        for row, line in enumerate(lines[:TEXT_ROWS]):
            draw.text((3, TILE + 2 + row * ROW_HEIGHT), line, fill=colour if row else TEXT_COLOUR, font=self.font)
        return tile

    def add_aligned(
        self,
        name: str,
        crop: Image.Image,
        mask: Image.Image,
        stage: int,
        yaw: float,
        pitch: float,
        unsure: bool = False,
    ) -> None:
        """A tile of an aligned photo; an ``unsure`` stage-2 yaw is written in the warning colour."""
        lines = [_fit(name), f"stage {stage}: yaw {yaw:+.1f}, pitch {pitch:+.1f}"]
        if unsure:
            lines.append("YAW UNSURE: check it")
        self.tiles.append(self._tile([crop, mask_overlay(crop, mask)], lines, UNSURE_COLOUR if unsure else TEXT_COLOUR))

    def add_skipped(self, name: str, photo: np.ndarray | None, reason: str) -> None:
        pictures = [Image.fromarray(photo)] if photo is not None else []
        wrapped = textwrap.wrap(f"SKIPPED: {reason}", 42)
        self.tiles.append(self._tile(pictures, [_fit(name)] + wrapped[: TEXT_ROWS - 1], SKIPPED_COLOUR))

    def image(self) -> Image.Image:
        """The grid (columns x rows of tiles), in the order the tiles were added."""
        if not self.tiles:
            raise ValueError("the contact sheet has no tiles")
        width, height = self.tiles[0].size
        rows = -(-len(self.tiles) // self.columns)
        sheet = Image.new("RGB", (min(len(self.tiles), self.columns) * (width + 2), rows * (height + 2)), (0, 0, 0))
        for index, tile in enumerate(self.tiles):
            sheet.paste(tile, ((index % self.columns) * (width + 2), (index // self.columns) * (height + 2)))
        return sheet

    def save(self, path: str | os.PathLike) -> None:
        """Write the sheet as a PNG, atomically."""
        import io

        buffer = io.BytesIO()
        self.image().save(buffer, format="PNG")
        write_bytes_atomic(path, buffer.getvalue())


def _fit(name: str, width: int = 42) -> str:
    """A file name shortened from the left to fit one text row."""
    return name if len(name) <= width else "..." + name[-(width - 3) :]
