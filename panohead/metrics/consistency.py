"""Multi-view consistency: warp one rendered view into another through the rendered depth and compare.

A 3D-consistent head shows the same colour at a surface point from every camera that sees it. For a
pair of views (source, target) of one head, every target pixel that is opaque is lifted to its
surface point P = o + depth * d (depth = the renderer's expected ray distance), projected into the
source camera and the source render is sampled there. The pixel counts when the source sees P too:
it is inside the source image, opaque there, and the source depth at that pixel matches |P - o_src|
within ``depth_tolerance`` (otherwise P is hidden behind something else in the source view).

Reported over all counted pixels of all pairs: ``error`` (mean absolute RGB difference, images in
[-1, 1]), ``psnr`` (dB, peak-to-peak 2) and ``coverage`` (counted pixels / opaque target pixels).
Colours are the head's own colour to_rgb(I_r) at the neural rendering resolution; super-resolution
is left out because its convolutions see each view separately (see module ``views``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from panohead.camera import project, split_label
from panohead.generator import PanoHeadGenerator
from panohead.metrics.views import batches, render_views, seed_latents, surface_points
from panohead.views.camera import frontal_camera, orbit_camera

DEPTH_TOLERANCE = 0.03  # world units (the tri-grid box is 1 unit wide)
MIN_OPACITY = 0.9


@dataclass(frozen=True)
class View:
    """One rendered view: colour (B, 3, n, n), opacity I_m (B, 1, n, n), depth (B, 1, n, n), camera (B, 25)."""

    rgb: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    camera: torch.Tensor


@dataclass(frozen=True)
class WarpSums:
    """Sums over counted pixels, so pairs and batches combine exactly."""

    abs_error: float
    squared_error: float
    counted: float  # pixel-channel terms are divided by channels at the end
    opaque: float
    channels: int

    def __add__(self, other: WarpSums) -> WarpSums:
        return WarpSums(
            self.abs_error + other.abs_error,
            self.squared_error + other.squared_error,
            self.counted + other.counted,
            self.opaque + other.opaque,
            self.channels,
        )

    def summary(self) -> dict[str, float]:
        if self.counted == 0:
            return {"error": float("nan"), "psnr": float("nan"), "coverage": 0.0}
        mse = self.squared_error / (self.counted * self.channels)
        return {
            "error": self.abs_error / (self.counted * self.channels),
            "psnr": 10.0 * math.log10(4.0 / max(mse, 1e-12)),
            "coverage": self.counted / max(self.opaque, 1.0),
        }


def source_coordinates(points: torch.Tensor, camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (B, 3, H, W) -> image coords (B, H, W, 2) in [0, 1] of ``camera`` (B, 25) and ray
    distance (B, 1, H, W); points behind the camera land outside the image (-1)."""
    batch, _, height, width = points.shape
    flat = points.float().flatten(2).transpose(1, 2)  # (B, H*W, 3)
    coords, depth = project(flat, camera.float())
    coords = torch.where((depth > 1e-6)[..., None], coords, torch.full_like(coords, -1.0))
    distance = (flat - split_label(camera.float())[0][:, None, :3, 3]).norm(dim=-1)
    return coords.reshape(batch, height, width, 2), distance.reshape(batch, 1, height, width)


def warp_sums(
    source: View, target: View, depth_tolerance: float = DEPTH_TOLERANCE, min_opacity: float = MIN_OPACITY
) -> WarpSums:
    """Compare ``target`` with ``source`` sampled at the target's surface points (see module docstring)."""
    opaque = target.mask > min_opacity
    coords, distance = source_coordinates(surface_points(target.camera, target.depth), source.camera)
    grid = coords * 2.0 - 1.0  # pixel centres sit at (i + 0.5) / n: align_corners=False

    def sample(image: torch.Tensor, mode: str) -> torch.Tensor:
        return F.grid_sample(image.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)

    warped = sample(source.rgb, "bilinear")
    source_mask, source_depth = sample(source.mask, "nearest"), sample(source.depth, "nearest")
    inside = ((coords >= 0) & (coords <= 1)).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    visible = inside & (source_mask > min_opacity) & ((source_depth - distance).abs() < depth_tolerance)
    counted = (opaque & visible).float()
    difference = (target.rgb.float() - warped) * counted
    return WarpSums(
        float(difference.abs().sum()),
        float((difference**2).sum()),
        float(counted.sum()),
        float(opaque.float().sum()),
        target.rgb.shape[1],
    )


@torch.no_grad()
def multiview_consistency(
    generator: PanoHeadGenerator,
    seeds: Sequence[int],
    yaw_step: float = 30.0,
    pitch: float = 0.0,
    psi: float = 1.0,
    batch_size: int = 4,
    depth_tolerance: float = DEPTH_TOLERANCE,
    progress: bool = False,
) -> dict[str, float]:
    """Consistency of each head between neighbouring views of a full orbit (yaw 0, step, 2 step, ...).

    Heads are conditioned on the frontal camera; each view k + 1 is warped from view k (the orbit
    closes, so 360 / yaw_step pairs per head). Returns {"error", "psnr", "coverage"}.
    """
    yaws = torch.arange(0.0, 360.0 - 1e-6, yaw_step)
    cameras = orbit_camera(yaws, pitch, generator)
    views = len(yaws)
    z_all = seed_latents(generator, seeds)
    total = WarpSums(0.0, 0.0, 0.0, 0.0, 3)
    for part in tqdm(
        list(batches(len(seeds), batch_size)), desc="multi-view consistency", unit="batch", disable=not progress
    ):
        z = z_all[part]
        out = render_views(generator, z, frontal_camera(generator, z.shape[0]), cameras, psi=psi)
        total = total + orbit_sums(out, views, depth_tolerance)
    return total.summary()


def orbit_sums(out: dict[str, torch.Tensor], views: int, depth_tolerance: float = DEPTH_TOLERANCE) -> WarpSums:
    """Warp sums of a closed orbit: each view k + 1 warped from view k, the last from the first.

    ``out`` is a render dict of ``metrics.views.render_views`` with a head-major (B * views) batch
    whose views go round the orbit in order; the sums cover all B heads (pass one head's rows for
    one head's score).
    """
    rgb, mask, depth, camera = (
        out[key].unflatten(0, (-1, views)) for key in ("head_rgb", "weight_sum", "depth", "cameras")
    )
    orbit = [View(rgb[:, k], mask[:, k], depth[:, k], camera[:, k]) for k in range(views)]
    total = WarpSums(0.0, 0.0, 0.0, 0.0, rgb.shape[2])
    for k in range(views):
        total = total + warp_sums(orbit[k], orbit[(k + 1) % views], depth_tolerance)
    return total
