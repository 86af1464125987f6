"""Turntable videos: the camera circles the head(s) once, 360 degrees of yaw, to .mp4 or .gif.

    frames = turntable_frames(generator, heads, Turntable(frames=120, view="image"))
    save_video("turntable.mp4", frames, fps=30)   # or export_turntable(...) for both

Several heads share each frame as a grid (one tile per head, same camera). Frames are rendered
lazily and streamed to the encoder, so a long video never sits in memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
from PIL import Image

from panohead.atomic import atomic_path
from panohead.camera import orbit_label
from panohead.export.heads import Head
from panohead.export.tasks import Progress, check_cancel, report
from panohead.generator import PanoHeadGenerator
from panohead.images import image_grid, to_uint8

VIEWS = ("image", "raw", "mask", "depth")
BACKGROUNDS = ("generated", "white", "black")
VIDEO_FORMATS = ("mp4", "gif")


@dataclass(frozen=True)
class Turntable:
    """One orbit. Angles in degrees; ``frames`` evenly spaced yaws starting in front of the face.

    ``view``: "image" (super-resolved), "raw" (the neural rendering before super-resolution),
    "mask" (accumulated opacity) or "depth" (near = white at ``ray_start``, far = black at
    ``ray_end``, both moved with the camera's distance, empty space black). ``background``:
    "generated" (the model's background network) or a flat "white"/"black" matted with the mask; it
    applies to "image" and "raw".
    ``resolution`` is each tile's side in pixels (None: the view's native size); ``columns`` the
    tiles per grid row (None: one row).
    """

    frames: int = 120
    pitch: float = 0.0
    radius: float | None = None
    resolution: int | None = None
    background: str = "generated"
    view: str = "image"
    fps: int = 30
    columns: int | None = None

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
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(failed[0])


def orbit_cameras(generator: PanoHeadGenerator, turntable: Turntable) -> torch.Tensor:
    """(frames, 25) camera labels, yaw 0, 360/frames, ... degrees, looking at the model's pivot."""
    cfg = generator.config
    yaws = torch.arange(turntable.frames, dtype=torch.float32) * (2 * math.pi / turntable.frames)
    return orbit_label(
        yaws,
        math.radians(turntable.pitch),
        turntable.radius or cfg.camera_radius,
        cfg.look_at,
        cfg.focal,
        device=generator.device,
    )


@torch.no_grad()
def render_tile(generator: PanoHeadGenerator, head: Head, camera: torch.Tensor, turntable: Turntable) -> np.ndarray:
    """Render one view of ``head`` from ``camera`` (1, 25) -> (S, S, 3) uint8, S = turntable.resolution."""
    view, cfg = turntable.view, generator.config
    background = head.background
    if turntable.background != "generated" and background is not None:
        background = torch.zeros_like(background)  # no background features: the mask mattes a flat colour
    out = generator.render(head.planes, head.ws, camera, background=background, superresolve=view == "image")
    if view in ("image", "raw"):
        rgb, mask = (out["image"], out["mask"]) if view == "image" else (out["image_raw"], out["mask_raw"])
        if turntable.background != "generated":
            fill = 1.0 if turntable.background == "white" else -1.0
            mask = mask.clamp(0, 1)
            rgb = rgb * mask + fill * (1 - mask)
        tile = to_uint8(rgb[0])
    elif view == "mask":
        tile = to_uint8(out["weight_sum"][0].expand(3, -1, -1), (0.0, 1.0))
    else:
        far = cfg.ray_end + generator.depth_shift(camera)[0]
        nearness = (far - out["depth"][0]) / (cfg.ray_end - cfg.ray_start)
        tile = to_uint8((nearness.clamp(0, 1) * out["weight_sum"][0]).expand(3, -1, -1), (0.0, 1.0))
    size = turntable.resolution
    if size is not None and tile.shape[:2] != (size, size):
        tile = np.asarray(Image.fromarray(tile).resize((size, size), Image.Resampling.LANCZOS))
    return tile


def turntable_frames(
    generator: PanoHeadGenerator,
    heads: list[Head],
    turntable: Turntable,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``turntable.frames`` frames (H, W, 3) uint8, each a grid with one tile per head."""
    if not heads:
        raise ValueError("a turntable needs at least one head")
    columns = min(turntable.columns or len(heads), len(heads))
    cameras = orbit_cameras(generator, turntable)
    for index in range(turntable.frames):
        check_cancel(cancel)
        tiles = [render_tile(generator, head, cameras[index : index + 1], turntable) for head in heads]
        yield image_grid(tiles, columns)
        report(progress, (index + 1) / turntable.frames)


def video_format(path: str | os.PathLike) -> str:
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
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Render the orbit of ``heads`` and write it to ``path`` (.mp4 or .gif)."""
    save_video(path, turntable_frames(generator, heads, turntable, progress, cancel), turntable.fps)
