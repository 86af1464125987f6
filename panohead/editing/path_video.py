"""Keyframe paths as video: every frame of :func:`path_frames` rendered and streamed to the video encoder.

Frames are drawn by the turntable exporter's :func:`panohead.export.video.render_tile`, so a path
video offers the same views, backgrounds and sizes as ``panohead video`` (its ``Turntable`` carries
those render options; its orbit fields are not used here).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import torch

from panohead.editing.keyframes import Keyframe, PathSettings, check_keyframes, frame_count, path_frames
from panohead.export.heads import Head
from panohead.export.tasks import FractionReport, check_cancel, report
from panohead.export.video import Turntable, render_tile, save_video, video_format
from panohead.generator import PanoHeadGenerator


@torch.no_grad()
def path_video_frames(
    generator: PanoHeadGenerator,
    keyframes: list[Keyframe],
    settings: PathSettings,
    options: Turntable = Turntable(),
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[np.ndarray]:
    """Yield the path's frames (S, S, 3) uint8; the tri-grid is re-synthesised only when the ws change."""
    total = frame_count(keyframes, settings)
    head, latents = None, None
    for index, frame in enumerate(path_frames(generator, keyframes, settings)):
        check_cancel(cancel)
        if head is None or not _same_latents(latents, (frame.ws, frame.background_ws)):
            background = None if frame.background_ws is None else generator.synthesize_background(frame.background_ws)
            head = Head(frame.ws, generator.synthesize_planes(frame.ws), background)
            latents = (frame.ws, frame.background_ws)
        yield render_tile(generator, head, frame.camera, options)
        report(progress, (index + 1) / total)


def _same_latents(a: tuple[torch.Tensor, torch.Tensor | None], b: tuple[torch.Tensor, torch.Tensor | None]) -> bool:
    return all(x is y or (x is not None and y is not None and torch.equal(x, y)) for x, y in zip(a, b, strict=True))


def export_path(
    generator: PanoHeadGenerator,
    keyframes: list[Keyframe],
    path: str | os.PathLike,
    settings: PathSettings,
    options: Turntable = Turntable(),
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Write the keyframe path to ``path`` (.mp4 or .gif) at ``settings.fps``, atomically."""
    video_format(path)
    check_keyframes(keyframes, settings)
    save_video(path, path_video_frames(generator, keyframes, settings, options, progress, cancel), settings.fps)
