"""Compare heads side by side from one camera: checkpoints, edits, an inversion and its photo.

A comparison is a list of :class:`Pane` values, each a head (a model source and an
:class:`~panohead.editing.EditState`) or a photo, and one camera that drives every head: the state's
own camera is ignored, so orbiting the comparison turns all heads together. Photos stay as they are
(the photo an inversion started from was taken from its input camera). :class:`Comparison` opens
each model once and synthesises each head once; a new camera only marches rays.

Layouts: "side" (one row), "grid" (two columns) and "wipe" (the first two panes split by a vertical
line at ``wipe``, 0 = all second pane, 1 = all first). Every pane is labelled in its top-left
corner; the wipe labels its two halves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from panohead.editing.state import Camera, EditState, compose
from panohead.export.heads import Head, synthesize_head
from panohead.export.tasks import FractionReport, check_cancel, report
from panohead.export.video import Turntable, render_tile, save_video
from panohead.generator import PanoHeadGenerator
from panohead.images import image_grid, open_image
from panohead.model_source import ModelSource

CompareLayout = Literal["side", "grid", "wipe"]
LAYOUTS: tuple[CompareLayout, ...] = get_args(CompareLayout)
MAX_PANES = 4
LINE_RGB = (255, 255, 255)


@dataclass(frozen=True)
class Pane:
    """One pane: a head (``state`` rendered by the model ``source`` names) or a ``photo`` file."""

    label: str
    source: str = "bundled"
    state: EditState | None = None
    photo: str | None = None

    def __post_init__(self) -> None:
        if (self.state is None) == (self.photo is None):
            raise ValueError(f"pane {self.label!r}: give a head state or a photo, not both or neither")


def labelled(tile: np.ndarray, text: str, right: bool = False) -> np.ndarray:
    """``tile`` (H, W, 3) uint8 with ``text`` on a dark box in its top-left (or top-right) corner."""
    picture = Image.fromarray(tile)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(10, tile.shape[0] // 20))
    left, top, width, height = draw.textbbox((0, 0), text, font=font)
    pad = max(2, tile.shape[0] // 64)
    x = tile.shape[1] - width - 3 * pad if right else pad
    draw.rectangle((x, pad, x + width - left + 2 * pad, pad + height - top + 2 * pad), fill=(0, 0, 0))
    draw.text((x + pad - left, 2 * pad - top), text, fill=(235, 235, 235), font=font)
    return np.asarray(picture)


def arrange(
    tiles: Sequence[np.ndarray], labels: Sequence[str], layout: CompareLayout = "side", wipe: float = 0.5
) -> np.ndarray:
    """Equal (S, S, 3) uint8 tiles -> one labelled picture in ``layout`` (see the module docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if not 1 <= len(tiles) <= MAX_PANES:
        raise ValueError(f"a comparison shows 1 to {MAX_PANES} panes, got {len(tiles)}")
    if layout == "wipe":
        if len(tiles) < 2:
            raise ValueError("the wipe needs two panes")
        width = tiles[0].shape[1]
        split = round(min(max(wipe, 0.0), 1.0) * width)
        picture = np.concatenate([tiles[0][:, :split], tiles[1][:, split:]], axis=1)
        picture[:, max(split - 1, 0) : split + 1] = LINE_RGB
        return labelled(labelled(picture, labels[0]), labels[1], right=True)
    named = [labelled(tile, text) for tile, text in zip(tiles, labels, strict=True)]
    return image_grid(named, len(named) if layout == "side" else min(2, len(named)))


class Comparison:
    """Renders panes from one camera, caching each model and each head (call from one thread at a time)."""

    def __init__(self, device: torch.device | str = "cpu", size: int = 256) -> None:
        self.device, self.size = torch.device(device), size
        self.models: dict[str, PanoHeadGenerator] = {}
        self.heads: dict[tuple[str, EditState], Head] = {}
        self.photos: dict[str, np.ndarray] = {}
        self.lock = threading.Lock()

    def model(self, source: str) -> PanoHeadGenerator:
        if source not in self.models:
            if len(self.models) >= MAX_PANES:
                self.models.pop(next(iter(self.models)))
            self.models[source] = ModelSource.parse(source).open(self.device)
        return self.models[source]

    def head(self, pane: Pane, camera: Camera) -> tuple[PanoHeadGenerator, Head]:
        """The pane's model and head as seen from ``camera`` (which changes the head only when the state is
        conditioned on the rendering camera)."""
        generator = self.model(pane.source)
        state = pane.state.replace(camera=camera if pane.state.follows_camera else Camera())
        key = (pane.source, state)
        if key not in self.heads:
            if len(self.heads) >= 2 * MAX_PANES:
                self.heads.pop(next(iter(self.heads)))
            with torch.inference_mode():
                ws, background_ws = compose(generator, state)
                self.heads[key] = synthesize_head(generator, ws, background_ws=background_ws)
        return generator, self.heads[key]

    def photo(self, path: str) -> np.ndarray:
        if path not in self.photos:
            try:
                with open_image(path) as picture:
                    fitted = ImageOps.fit(picture.convert("RGB"), (self.size, self.size), Image.Resampling.LANCZOS)
            except FileNotFoundError:
                raise FileNotFoundError(f"{path}: photo not found") from None
            except OSError as error:
                raise ValueError(f"{path}: cannot read the photo ({error})") from None
            self.photos[path] = np.asarray(fitted)
        return self.photos[path]

    def tiles(self, panes: Sequence[Pane], camera: Camera) -> list[np.ndarray]:
        """One (size, size, 3) uint8 tile per pane: heads rendered from ``camera``, photos as they are."""
        settings = Turntable(frames=1, resolution=self.size)
        tiles = []
        with self.lock, torch.inference_mode():
            for pane in panes:
                if pane.photo is not None:
                    tiles.append(self.photo(pane.photo))
                    continue
                generator, head = self.head(pane, camera)
                tiles.append(render_tile(generator, head, camera, settings))
        return tiles

    def picture(
        self, panes: Sequence[Pane], camera: Camera, layout: CompareLayout = "side", wipe: float = 0.5
    ) -> np.ndarray:
        """The whole comparison from ``camera`` as one (H, W, 3) uint8 picture."""
        return arrange(self.tiles(panes, camera), [pane.label for pane in panes], layout, wipe)

    def turntable(
        self, panes: Sequence[Pane], camera: Camera, layout: CompareLayout = "side", wipe: float = 0.5, frames: int = 60
    ) -> Iterator[np.ndarray]:
        """``frames`` pictures of one full orbit starting at ``camera`` (its pitch, distance and field of view)."""
        for index in range(frames):
            yaw = camera.yaw + 360.0 * index / frames
            yield self.picture(panes, replace(camera, yaw=math.fmod(yaw, 360.0)), layout, wipe)

    def save_turntable(
        self,
        path: str | Path,
        panes: Sequence[Pane],
        camera: Camera,
        layout: CompareLayout = "side",
        wipe: float = 0.5,
        frames: int = 60,
        fps: int = 30,
        progress: FractionReport | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Encode :meth:`turntable` to ``path`` (.mp4 or .gif), atomically."""

        def counted() -> Iterator[np.ndarray]:
            for index, frame in enumerate(self.turntable(panes, camera, layout, wipe, frames)):
                check_cancel(cancel)
                yield frame
                report(progress, (index + 1) / frames)

        save_video(path, counted(), fps)
