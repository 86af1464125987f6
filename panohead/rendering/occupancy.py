"""Empty-space skipping: a coarse occupancy grid of a cached tri-grid, and a field that skips empty cells.

Once per head, density is sampled on an N^3 lattice of the box (separably, with
:class:`panohead.rendering.lattice.TrigridLattice`), each cell keeps the largest density of its 8
corners, and cells are dilated by more than one coarse ray step. Ray samples in cells that stay
below ``threshold`` are not evaluated: they get the renderer's "no density" logit and zero colour.

Why the dilation makes the images agree: compositing uses the density at the mid-point of two
consecutive samples (softplus of their mean logit). A skipped sample is at most one ray step from
its neighbours, so a neighbour with real density would have marked the skipped sample's cell
occupied. Every skipped interval therefore had density below ``threshold`` in the reference, and
the image changes by at most about ``threshold`` times the ray length in opacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from panohead.rendering.lattice import TrigridLattice
from panohead.rendering.volume import EMPTY_LOGIT, Field, RaySettings


@dataclass
class OccupancyGrid:
    """``cells`` (B, N-1, N-1, N-1) bool over the box [-half, half]^3 (index order x, y, z).

    ``outside`` says whether points beyond the box count as occupied (the decoder's density of a
    zero feature, which is what zero padding gives there, is at or above the threshold).
    """

    cells: torch.Tensor
    half: float
    crop_half: float | None
    outside: bool

    @property
    def fraction(self) -> float:
        """Share of cells that are evaluated (1.0 = nothing skipped)."""
        return float(self.cells.float().mean())

    def occupied(self, points: torch.Tensor) -> torch.Tensor:
        """(B, M, 3) world points -> (B, M) bool: whether each point must be evaluated."""
        count = self.cells.shape[1]
        scaled = (points + self.half) * (count / (2 * self.half))
        index = scaled.floor().long()
        inside_box = ((index >= 0) & (index < count)).all(dim=-1)
        index = index.clamp(0, count - 1)
        flat = (index[..., 0] * count + index[..., 1]) * count + index[..., 2]
        occupied = self.cells.reshape(self.cells.shape[0], -1).gather(1, flat)
        occupied = torch.where(inside_box, occupied, torch.full_like(occupied, self.outside))
        if self.crop_half is not None:  # the renderer removes density there anyway: skipping is exact
            occupied = occupied & (points[..., 0:3:2].abs() <= self.crop_half).all(dim=-1)
        return occupied


def dilation_cells(settings: RaySettings, resolution: int) -> int:
    """Cells to dilate by so a skipped sample's neighbours along a ray fall in dilated cells."""
    step = (settings.ray_end - settings.ray_start) / max(1, settings.samples_coarse - 1)
    cell = settings.box_warp / (resolution - 1)
    return math.ceil(step / cell) + 1


@torch.no_grad()
def build_occupancy(
    G, planes: torch.Tensor, resolution: int = 64, threshold: float = 1e-3, rows: int = 16
) -> OccupancyGrid:
    """Occupancy of ``planes`` (B, 3, C, D, H, W) of generator ``G`` on a ``resolution``^3 lattice.

    ``threshold`` is on the rendered density softplus(sigma - 1).
    """
    cfg = G.config
    settings = G.ray_settings()
    half = cfg.box_warp / 2
    planes = planes.float()
    axis = torch.linspace(-half, half, resolution, device=planes.device)
    lattice = TrigridLattice(planes, axis, cfg.box_warp, cfg.plane_layout)
    density = torch.cat(
        [
            F.softplus(G.decoder.density(lattice.rows(i, min(i + rows, resolution))).float() - 1.0)
            for i in range(0, resolution, rows)
        ],
        dim=1,
    )[..., 0]  # (B, N, N, N)
    corners = F.max_pool3d(density[:, None], kernel_size=2, stride=1)
    radius = dilation_cells(settings, resolution)
    for kernel in ((2 * radius + 1, 1, 1), (1, 2 * radius + 1, 1), (1, 1, 2 * radius + 1)):  # a cube, separably
        corners = F.max_pool3d(corners, kernel_size=kernel, stride=1, padding=tuple(k // 2 for k in kernel))
    cells = corners[:, 0] >= threshold
    zero = torch.zeros(1, cfg.plane_channels, device=planes.device)
    outside = bool(F.softplus(G.decoder.density(zero).float() - 1.0).max() >= threshold)
    crop = settings.box_warp / 2 - settings.crop_margin if settings.crop_margin and settings.crop_margin > 0 else None
    return OccupancyGrid(cells, half, crop, outside)


def skipping_field(field_of, planes: torch.Tensor, occupancy: OccupancyGrid) -> Field:
    """A field over ``planes`` (B, ...) that evaluates ``field_of(planes[b:b+1])`` only at occupied points.

    ``field_of(planes)`` returns the generator's field closure (``G.field``).
    """
    fields = [field_of(planes[b : b + 1]) for b in range(planes.shape[0])]

    def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = occupancy.occupied(points)
        density = torch.full((*points.shape[:2], 1), EMPTY_LOGIT, device=points.device, dtype=points.dtype)
        colour = None
        for b, field in enumerate(fields):
            index = keep[b].nonzero()[:, 0]
            if index.numel() == 0:
                continue
            sigma, features = field(points[b : b + 1, index])
            if colour is None:
                colour = torch.zeros(
                    (*points.shape[:2], features.shape[-1]), device=points.device, dtype=features.dtype
                )
            density[b, index] = sigma[0].to(density.dtype)
            colour[b, index] = features[0]
        if colour is None:
            channels = field_channels(field_of, planes) if fields else 0
            colour = torch.zeros((*points.shape[:2], channels), device=points.device, dtype=points.dtype)
        return density, colour

    return evaluate


def field_channels(field_of, planes: torch.Tensor) -> int:
    """Colour channels of the field (one probe point), for a batch where everything is skipped."""
    _, colour = field_of(planes[:1])(torch.zeros(1, 1, 3, device=planes.device))
    return colour.shape[-1]
