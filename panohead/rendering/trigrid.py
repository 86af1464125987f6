"""Tri-grid feature sampling (PanoHead Sec. 3.2).

Each of the three axis-aligned grids has D planes stacked along its normal axis. A point is looked
up by trilinear interpolation: bilinear within the planes and linear across depth.

With D = 1 a grid is a tri-plane plane, constant along its normal: sampling is exactly bilinear
(EG3D's tri-plane). The official PanoHead code instead keeps sampling a one-plane grid in 3-D, so a
feature fades linearly to half its value at the box faces along the normal (zero padding beyond the
single depth sample); the layout "panohead-3d" reproduces that for official D = 1 checkpoints.

Because a tri-plane ignores the coordinate along each plane's normal, a point on the face and the
point behind it on the back of the head read the same feature on the xy plane: the "mirrored face"
artifact. The depth dimension of the tri-grid tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, get_args

import torch
import torch.nn.functional as F

# For each grid: indices of the point coordinates used as (width, height, depth) lookups.
PANOHEAD_AXES = ((0, 1, 2), (0, 2, 1), (1, 2, 0))
# EG3D's released code projects the third plane onto (z, x), repeating the xz plane transposed.
EG3D_AXES = ((0, 1, 2), (0, 2, 1), (2, 0, 1))
# Which axes each grid samples: PANOHEAD_AXES, EG3D_AXES, or PANOHEAD_AXES with a D = 1 grid sampled in 3-D.
PlaneLayout = Literal["panohead", "panohead-3d", "eg3d"]
PLANE_LAYOUTS: tuple[PlaneLayout, ...] = get_args(PlaneLayout)


def grid_coordinates(points: torch.Tensor, box_warp: float, layout: PlaneLayout = "panohead") -> torch.Tensor:
    """(B, M, 3) world points -> (B, 3, M, 3) normalised (width, height, depth) coords per grid."""
    axes = EG3D_AXES if layout == "eg3d" else PANOHEAD_AXES
    scaled = points * (2.0 / box_warp)
    # Column by column rather than with a list index: no host-to-device index copy (CUDA graph capture).
    return torch.stack([torch.stack([scaled[..., axis] for axis in order], dim=-1) for order in axes], dim=1)


def sample_trigrid(
    grids: torch.Tensor, points: torch.Tensor, box_warp: float, layout: PlaneLayout = "panohead"
) -> torch.Tensor:
    """Features of ``points`` (B, M, 3) in ``grids`` (B, 3, C, D, H, W), averaged over the 3 grids -> (B, M, C).

    Outside the box (|coordinate| > box_warp / 2) features fade to zero (zero padding), as in the
    official renderer.
    """
    lookups = grid_lookups(grids, points, box_warp, layout)
    total = next(lookups)
    for sampled in lookups:
        total.add_(sampled)
    return (total / grids.shape[1]).transpose(1, 2).contiguous()


def is_planar(layout: PlaneLayout, depth: int) -> bool:
    """Whether grids are sampled as 2-D planes (plane 0, constant along the normal) instead of in 3-D.

    One-plane grids are, except under "panohead-3d" (see the module docstring). The lattice sampler
    (:mod:`panohead.rendering.lattice`) follows the same rule.
    """
    return depth == 1 and layout != "panohead-3d"


def sample_trigrid_per_grid(
    grids: torch.Tensor, points: torch.Tensor, box_warp: float, layout: PlaneLayout = "panohead"
) -> torch.Tensor:
    """Like :func:`sample_trigrid` but keeps the grids apart: (B, 3, M, C)."""
    return torch.stack(list(grid_lookups(grids, points, box_warp, layout)), dim=1).transpose(2, 3)


def grid_lookups(
    grids: torch.Tensor, points: torch.Tensor, box_warp: float, layout: PlaneLayout = "panohead"
) -> Iterator[torch.Tensor]:
    """Each grid's features (B, C, M) at ``points`` (B, M, 3), grid by grid.

    One lookup per grid over the whole batch, so ``grids`` may be a batch of views of fewer tri-grids
    (an expanded tensor, as :func:`panohead.metrics.views.render_ws_views` renders several views of a
    head): nothing is copied per view.
    """
    batch, n_grids, channels, depth, _, _ = grids.shape
    coords = grid_coordinates(points, box_warp, layout).to(grids.dtype)  # (B, 3, M, 3)
    grids = sampling_layout(grids)
    planar = is_planar(layout, depth)
    for g in range(n_grids):
        sampled = F.grid_sample(
            grids[:, g, :, 0] if planar else grids[:, g],
            coords[:, g, None, :, :2] if planar else coords[:, g, None, None],
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        yield sampled.reshape(batch, channels, -1)


def sampling_layout(grids: torch.Tensor) -> torch.Tensor:
    """The same ``grids`` (B, 3, C, D, H, W), laid out in memory for the fastest lookups on their device.

    On the CPU that is channels innermost (memory order B, grid, D, H, W, C): grid_sample's CPU kernels
    then read the C features of a texel from one cache line instead of from C planes a whole grid
    apart, which makes the bundled model's tri-grid lookups twice as fast with bit-identical values.
    A no-op for grids whose channels are innermost already (:meth:`PanoHeadGenerator.field` lays them
    out once per render) and on other devices, whose kernels are written for the contiguous layout.
    """
    if grids.device.type != "cpu" or grids.stride(2) == 1:
        return grids
    batch, n_grids, channels, depth, height, width = grids.shape
    flat = grids.reshape(batch * n_grids, channels, depth, height, width)
    return flat.contiguous(memory_format=torch.channels_last_3d).reshape(grids.shape)


def split_planes(backbone_output: torch.Tensor, channels: int, depth: int) -> torch.Tensor:
    """(B, 3 * C * D, H, W) backbone image -> (B, 3, C, D, H, W): grid-major, channel, then depth."""
    batch, _, height, width = backbone_output.shape
    return backbone_output.reshape(batch, 3, channels, depth, height, width)
