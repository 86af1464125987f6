"""Turntable videos: the camera circles the head(s) once, 360 degrees of yaw, to .mp4 or .gif.

    frames = turntable_frames(generator, heads, Turntable(frames=120, view="image"))
    save_video("turntable.mp4", frames, fps=30)   # or export_turntable(...) for both

Several heads share each frame as a grid (one tile per head, same camera). Frames are rendered
lazily and streamed to the encoder, so a long video never sits in memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import imageio.v2 as imageio
import numpy as np
import torch
from PIL import Image

from panohead.atomic import atomic_path
from panohead.editing.state import Camera
from panohead.export.heads import Head
from panohead.export.tasks import FractionReport, check_cancel, report
from panohead.generator import PanoHeadGenerator
from panohead.images import image_grid
from panohead.views.images import AXES, Axis, over, to_rgba8
from panohead.views.modes import (
    HeadStages,
    Picture,
    flat_colour,
    head_view,
    is_slice_mode,
    mirror_view,
    slice_view,
)

# The viewer's view modes (panohead.views.modes.MODES; "image" is its "final"), and its mirror comparison.
VideoView = Literal[
    "image", "raw", "mask", "depth", "foreground", "background", "normals", "density", "colour", "mirror"
]
VIEWS: tuple[VideoView, ...] = get_args(VideoView)
VideoBackground = Literal["generated", "white", "black"]  # the model's background network, or a flat colour
BACKGROUNDS: tuple[VideoBackground, ...] = get_args(VideoBackground)
FILLS: dict[VideoBackground, tuple[float, float, float]] = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}
VideoFormat = Literal["mp4", "gif"]
VIDEO_FORMATS: tuple[VideoFormat, ...] = get_args(VideoFormat)


@dataclass(frozen=True)
class Turntable:
    """One orbit. Angles in degrees; ``frames`` evenly spaced yaws starting in front of the face.

    ``view``: one of the viewer's modes, drawn by :mod:`panohead.views.modes` exactly as the viewer
    draws them ("image" is the viewer's "final"; "density" and "colour" show the plane
    ``slice_axis`` = ``slice_offset`` through the volume, the same in every frame; "mirror" compares
    front and mirrored back at the orbit's pitch). ``background``: "generated" (the model's
    background network) or a flat "white"/"black" behind the head (and behind transparent views).
    ``resolution`` is each tile's side in pixels (None: the view's native size); ``columns`` the
    tiles per grid row (None: one row).
    """

    frames: int = 120
    pitch: float = 0.0
    radius: float | None = None
    resolution: int | None = None
    background: VideoBackground = "generated"
    view: VideoView = "image"
    fps: int = 30
    columns: int | None = None
    slice_axis: Axis = "z"
    slice_offset: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            f"frames must be at least 1, got {self.frames}": self.frames >= 1,
            f"view must be one of {', '.join(VIEWS)}, got {self.view!r}": self.view in VIEWS,
            f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}": self.background
            in BACKGROUNDS,
            f"resolution must be an even number of pixels from 16 to 2048, got {self.resolution}": self.resolution
            is None
            or (16 <= self.resolution <= 2048 and self.resolution % 2 == 0),
            f"fps must be from 1 to 120, got {self.fps}": 1 <= self.fps <= 120,
            f"pitch must be within -89 to 89 degrees, got {self.pitch:g}": -89 <= self.pitch <= 89,
            f"radius must be positive, got {self.radius}": self.radius is None or self.radius > 0,
            f"columns must be at least 1, got {self.columns}": self.columns is None or self.columns >= 1,
            f"slice axis must be x, y or z, got {self.slice_axis!r}": self.slice_axis in AXES,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(failed[0])


def orbit(turntable: Turntable) -> list[Camera]:
    """``turntable.frames`` cameras at yaw 0, 360/frames, ... degrees, the model's pivot and lens."""
    step = 360.0 / turntable.frames
    return [Camera(index * step, turntable.pitch, turntable.radius) for index in range(turntable.frames)]


def orbit_cameras(generator: PanoHeadGenerator, turntable: Turntable) -> torch.Tensor:
    """(frames, 25) camera labels of :func:`orbit`."""
    return torch.cat([camera.label(generator) for camera in orbit(turntable)])


def draw_view(generator: PanoHeadGenerator, head: Head, camera: Camera, turntable: Turntable) -> Picture:
    """The turntable's view of ``head`` from ``camera``, as the viewer draws it at full quality."""
    view, G = turntable.view, generator
    if is_slice_mode(view):
        size = 2 * G.config.neural_resolution  # the viewer's slice size
        return slice_view(G, head.planes, head.ws, view, turntable.slice_axis, turntable.slice_offset, size)
    superresolve = view in ("image", "foreground", "background", "mirror")
    stages = HeadStages(G, head.planes, head.ws, head.background, superresolve)
    if view == "mirror":
        return mirror_view(stages, camera)
    fill = FILLS.get(turntable.background)
    replacement = None if fill is None else flat_colour(fill, head.planes.device)
    return head_view(stages, camera, "final" if view == "image" else view, replacement)


@torch.no_grad()
def render_tile(generator: PanoHeadGenerator, head: Head, camera: Camera, turntable: Turntable) -> np.ndarray:
    """Render one view of ``head`` from ``camera`` -> (S, S, 3) uint8, S = turntable.resolution (or native).

    Transparent parts of a view show the flat background (black with the model's)."""
    picture = draw_view(generator, head, camera, turntable)
    rgb = picture.rgb
    if picture.alpha is not None:
        fill = flat_colour(FILLS.get(turntable.background, FILLS["black"]), rgb.device)
        rgb = over(rgb, picture.alpha, fill(rgb.shape[-1]))
    tile = to_rgba8(rgb)[..., :3].cpu().numpy()
    size = turntable.resolution
    if size is not None and tile.shape[:2] != (size, size):
        tile = np.asarray(Image.fromarray(tile).resize((size, size), Image.Resampling.LANCZOS))
    return tile


def turntable_frames(
    generator: PanoHeadGenerator,
    heads: list[Head],
    turntable: Turntable,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``turntable.frames`` frames (H, W, 3) uint8, each a grid with one tile per head."""
    if not heads:
        raise ValueError("a turntable needs at least one head")
    columns = min(turntable.columns or len(heads), len(heads))
    for index, camera in enumerate(orbit(turntable)):
        check_cancel(cancel)
        tiles = [render_tile(generator, head, camera, turntable) for head in heads]
        yield image_grid(tiles, columns)
        report(progress, (index + 1) / turntable.frames)


def video_format(path: str | os.PathLike) -> VideoFormat:
    """'mp4' or 'gif' from the file name; anything else is a one-line error."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in VIDEO_FORMATS:
        raise ValueError(f"{path}: unknown video format {suffix or '(none)'!r}; use .mp4 or .gif")
    return suffix


def save_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int = 30) -> None:
    """Encode frames (H, W, 3) uint8 (even H and W for .mp4) atomically: H.264 .mp4 or looping .gif.

    If the frames stop with an exception (e.g. :class:`ExportCancelled`), no file is left behind.
    """
    if video_format(path) == "mp4":
        options = dict(format="FFMPEG", fps=fps, codec="libx264", quality=8, pixelformat="yuv420p", macro_block_size=2)
    else:
        options = dict(mode="I", duration=1000 / fps, loop=0)
    with atomic_path(path) as temp:
        # closing(), not the writer's own context manager: that one skips close() on an exception,
        # leaving ffmpeg to create the file after atomic_path has removed it.
        with contextlib.closing(imageio.get_writer(temp, **options)) as writer:
            for frame in frames:
                writer.append_data(frame)


def export_turntable(
    generator: PanoHeadGenerator,
    heads: list[Head],
    path: str | os.PathLike,
    turntable: Turntable,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Render the orbit of ``heads`` and write it to ``path`` (.mp4 or .gif)."""
    save_video(path, turntable_frames(generator, heads, turntable, progress, cancel), turntable.fps)
