"""Tri-grid features at every point of a regular N^3 lattice, without a per-point texel gather.

Trilinear interpolation is separable, and on a lattice every axis is looked up at the same N
coordinates, so each grid's lookup factors into fixed (N, size) weight matrices. Resampling each
grid's planes to N x N once (two matrix products) and blending its D depth planes per lattice row
costs C * D multiply-adds per point and grid instead of 8 scattered texel reads (grid_sample). Used
to sample density for meshes; the values equal :func:`panohead.rendering.trigrid.sample_trigrid`
at the lattice points (same align_corners=False, zero-padding convention).
"""

from __future__ import annotations

import torch

from panohead.rendering.trigrid import EG3D_AXES, PANOHEAD_AXES, PlaneLayout, is_planar

LETTERS = "xyz"  # point axes in einsum subscripts


def interpolation_matrix(coords: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size) linear-interpolation weights of normalised coords (N,) in [-1, 1] over ``size`` texels.

    The convention of ``grid_sample(align_corners=False, padding_mode='zeros')``: texel centres sit at
    (i + 0.5) / size of the span, and taps outside the texels contribute zero.
    """
    pixel = ((coords + 1) * size - 1) / 2
    lower = pixel.floor()
    upper_weight = pixel - lower
    lower = lower.long()
    rows = torch.arange(len(coords), device=coords.device)
    weights = torch.zeros(len(coords), size, device=coords.device, dtype=coords.dtype)
    for index, weight in ((lower, 1 - upper_weight), (lower + 1, upper_weight)):
        valid = (index >= 0) & (index < size)
        weights.index_put_((rows[valid], index[valid]), weight[valid], accumulate=True)
    return weights


class TrigridLattice:
    """Features of ``grids`` (B, 3, C, D, H, W) at the lattice ``axis`` x ``axis`` x ``axis``.

    ``axis`` (N,) holds world coordinates shared by x, y and z. The in-plane resampling is done once
    here ((B, 3, C, D, N, N), e.g. 75 MB for C = 32, D = 3, N = 256); :meth:`rows` then yields the
    lattice a few x-rows at a time.
    """

    def __init__(
        self, grids: torch.Tensor, axis: torch.Tensor, box_warp: float, layout: PlaneLayout = "panohead"
    ) -> None:
        coords = axis.to(grids.dtype) * (2.0 / box_warp)
        _, _, _, depth, height, width = grids.shape
        self.axis = axis
        self.axes = EG3D_AXES if layout == "eg3d" else PANOHEAD_AXES
        if is_planar(layout, depth):  # plane 0, constant along the normal, as in sample_trigrid
            grids, depth_weights = grids[:, :, :, :1], torch.ones_like(coords)[:, None]
        else:
            depth_weights = interpolation_matrix(coords, depth)
        self.depth = depth_weights / len(self.axes)  # the mean over the grids, folded into the weights
        self.planes = torch.einsum(
            "bgcdhw,nh,mw->bgcdnm", grids, interpolation_matrix(coords, height), interpolation_matrix(coords, width)
        )

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """(B, stop - start, N, N, C): features at points (axis[i], axis[j], axis[k]), start <= i < stop,
        averaged over the 3 grids like sample_trigrid."""
        total = None
        for grid, (w, h, d) in enumerate(self.axes):
            planes, depth = self.planes[:, grid], self.depth
            # Restrict whichever lookup axis is the point's x to the requested rows.
            if d == 0:
                depth = depth[start:stop]
            if h == 0:
                planes = planes[:, :, :, start:stop]
            if w == 0:
                planes = planes[..., start:stop]
            features = torch.einsum(f"bcd{LETTERS[h]}{LETTERS[w]},{LETTERS[d]}d->bxyzc", planes, depth)
            total = features if total is None else total.add_(features)
        assert total is not None  # three grids
        return total
