"""What a run writes for people (and the app's training panel) to watch: the JSONL log and image grids."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.images import image_grid, save_image, to_uint8
from panohead.views.camera import orbit_camera

GRID_YAWS = (0.0, 90.0, 180.0, 270.0)  # front, left side (+x), back, right side
GRID_PSI = 0.7


class RunLog:
    """Append-only JSON-lines log; each line is flushed so a reader never sees half a record."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def write(self, event: str, **fields) -> None:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=False, default=_plain) + "\n")
            handle.flush()


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot log {type(value).__name__}")


def finite(value: float) -> float | None:
    """JSON has no NaN/inf: log them as null (the panel shows a gap)."""
    return value if math.isfinite(value) else None


@torch.no_grad()
def render_progress_grids(G: PanoHeadGenerator, seeds: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Seeds 0..seeds-1 (rows) at the front, side, back and other side (columns), conditioned on the front camera.

    Returns the image grid (H, W, 3) and the matching foreground-mask grid (H, W, 1), uint8.
    """
    cfg = G.config
    frontal = orbit_camera(0.0, 0.0, cfg, device=device)
    cameras = orbit_camera(GRID_YAWS, 0.0, cfg, device=device)
    images, masks = [], []
    views = len(GRID_YAWS)
    for seed in range(seeds):
        ws = G.mapping(seed_latent(seed, cfg.z_dim, device), frontal, psi=GRID_PSI)
        planes = G.synthesize_planes(ws).expand(views, -1, -1, -1, -1, -1)
        background = G.synthesize_background(ws)
        if background is not None:
            background = background.expand(views, -1, -1, -1)
        out = G.render(planes, ws.expand(views, -1, -1), cameras, background=background)
        images.extend(to_uint8(out["image"]))
        masks.extend(to_uint8(out["mask"], (0.0, 1.0)))
    return image_grid(images, len(GRID_YAWS)), image_grid(masks, len(GRID_YAWS))


def write_progress_grids(
    folder: Path, stem: str, G: PanoHeadGenerator, seeds: int, device: torch.device
) -> tuple[Path, Path]:
    image, mask = render_progress_grids(G, seeds, device)
    paths = folder / f"{stem}.png", folder / f"{stem}-mask.png"
    save_image(paths[0], image)
    save_image(paths[1], mask)
    return paths


def write_reals_grid(path: Path, images: torch.Tensor, masks: torch.Tensor, columns: int = 8) -> None:
    """A grid of real training images (top rows) and their masks (bottom rows)."""
    tiles = list(to_uint8(images)) + list(np.repeat(to_uint8(masks, (0.0, 1.0)), 3, axis=-1))
    save_image(path, image_grid(tiles, columns))
