"""Tri-grid inspector images (Sec. 3.2): every depth plane of the 3 grids, plus continuous slices.

A grid of a PanoHead tri-grid holds D planes stacked along its normal axis. Showing them side by
side (and a slice at any offset along the normal, interpolated like the renderer does) lets an
artist see how features of the face and of the back of the head are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from panohead.rendering.trigrid import EG3D_AXES, PANOHEAD_AXES, PlaneLayout, sample_trigrid_per_grid
from panohead.views.images import AXES, Colormap, colormap, orient_plane, pca_colours, slice_points

TrigridDisplay = Literal["pca", "channel"]  # three principal components as colours, or one channel
TRIGRID_DISPLAYS: tuple[TrigridDisplay, ...] = get_args(TrigridDisplay)
CellKind = Literal["plane", "slice", "image"]  # a stored plane, a continuous slice, or a picture
MIN_TILE = 128  # tiles are enlarged (nearest neighbour) to at least this many pixels
BACKGROUND = (0.07, 0.075, 0.08)


@dataclass(frozen=True)
class TrigridSpec:
    """How the inspector shows the tri-grid: ``display`` "pca" (three principal components as colours)
    or "channel" (one ``channel`` through ``colormap``); every depth plane or only ``depth_index``;
    slice ``offsets`` along the x, y and z normals (world units)."""

    display: TrigridDisplay = "pca"
    channel: int = 0
    colormap: Colormap = "coolwarm"
    all_planes: bool = True
    depth_index: int = 0
    offsets: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Cell:
    """A labelled rectangle of a mosaic, in [0, 1] coordinates of the mosaic (x right, y down)."""

    label: str
    kind: CellKind
    x0: float
    y0: float
    x1: float
    y1: float


def grid_axes(layout: PlaneLayout) -> tuple[tuple[int, int, int], ...]:
    """(width, height, depth) world axes of each grid, as the engine samples them."""
    return EG3D_AXES if layout == "eg3d" else PANOHEAD_AXES


def plane_depth(index: int, depth: int, box_warp: float) -> float:
    """World coordinate along the normal of plane ``index`` of ``depth`` (grid_sample, align_corners=False)."""
    return ((2 * index + 1) / depth - 1.0) * box_warp / 2.0


def trigrid_tiles(
    planes: torch.Tensor, spec: TrigridSpec, box_warp: float, layout: PlaneLayout
) -> tuple[list[list[torch.Tensor]], list[list[str]]]:
    """Feature tiles (C, H, W) per grid row: the chosen depth planes, then a continuous slice.

    ``planes`` is one tri-grid (1, 3, C, D, H, W). Returns rows of tiles and their labels.
    """
    _, grids, _, depth, height, _ = planes.shape
    indices = range(depth) if spec.all_planes else [min(max(spec.depth_index, 0), depth - 1)]
    rows, labels = [], []
    for g, (w_axis, h_axis, d_axis) in enumerate(grid_axes(layout)[:grids]):
        normal = AXES[d_axis]
        row = [orient_plane(planes[0, g, :, d], w_axis, h_axis, d_axis) for d in indices]
        grid_name = f"{AXES[w_axis]}{AXES[h_axis]} grid"
        names = [
            f"{grid_name}, plane {d + 1}/{depth} ({normal} = {plane_depth(d, depth, box_warp):+.2f})" for d in indices
        ]
        offset = float(spec.offsets[d_axis])
        points = slice_points(d_axis, offset, height, box_warp, planes.device)[None]
        sampled = sample_trigrid_per_grid(planes, points.to(planes.dtype), box_warp, layout)[0, g]  # (M, C)
        row.append(sampled.T.reshape(-1, height, height))
        names.append(f"slice {normal} = {offset:+.2f}")
        rows.append(row)
        labels.append(names)
    return rows, labels


def colour_tiles(rows: list[list[torch.Tensor]], spec: TrigridSpec) -> list[list[torch.Tensor]]:
    """Feature tiles -> (3, H, W) colours, with one shared PCA basis or value range for all tiles."""
    flat = torch.cat([tile.flatten(1).T for row in rows for tile in row])  # (N, C)
    if spec.display == "pca":
        colours = pca_colours(flat)
    else:
        values = flat[:, min(max(spec.channel, 0), flat.shape[1] - 1)].float()
        if spec.colormap == "coolwarm":
            scale = torch.quantile(values.abs(), 0.99).clamp_min(1e-6)
            unit = values / (2 * scale) + 0.5
        else:
            low, high = torch.quantile(values, 0.01), torch.quantile(values, 0.99)
            unit = (values - low) / (high - low).clamp_min(1e-6)
        colours = colormap(unit[None], spec.colormap)[:, 0].T  # (N, 3)
    out, start = [], 0
    for row in rows:
        coloured = []
        for tile in row:
            count = tile.shape[1] * tile.shape[2]
            coloured.append(colours[start : start + count].T.reshape(3, tile.shape[1], tile.shape[2]))
            start += count
        out.append(coloured)
    return out


def mosaic(
    rows: list[list[torch.Tensor]], labels: list[list[str]], kinds: list[list[CellKind]]
) -> tuple[torch.Tensor, list[Cell]]:
    """Lay equally sized (3, H, W) tiles out in rows with gaps; returns the image and its cells."""
    height, width = rows[0][0].shape[-2:]
    repeat = max(1, -(-MIN_TILE // height))
    tile_h, tile_w = height * repeat, width * repeat
    gap = max(4, tile_h // 24)
    columns = max(len(row) for row in rows)
    total_w = columns * tile_w + (columns + 1) * gap
    total_h = len(rows) * tile_h + (len(rows) + 1) * gap
    device = rows[0][0].device
    image = torch.tensor(BACKGROUND, device=device).reshape(3, 1, 1).repeat(1, total_h, total_w)
    cells = []
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            y, x = gap + r * (tile_h + gap), gap + c * (tile_w + gap)
            image[:, y : y + tile_h, x : x + tile_w] = tile.repeat_interleave(repeat, -2).repeat_interleave(repeat, -1)
            cells.append(
                Cell(
                    labels[r][c], kinds[r][c], x / total_w, y / total_h, (x + tile_w) / total_w, (y + tile_h) / total_h
                )
            )
    return image, cells


def trigrid_mosaic(
    planes: torch.Tensor, spec: TrigridSpec, box_warp: float, layout: PlaneLayout
) -> tuple[torch.Tensor, list[Cell]]:
    """The inspector image (3, H, W): 3 rows (grids) x (D planes + 1 slice)."""
    rows, labels = trigrid_tiles(planes, spec, box_warp, layout)
    kinds: list[list[CellKind]] = [["plane" if i < len(row) - 1 else "slice" for i in range(len(row))] for row in rows]
    return mosaic(colour_tiles(rows, spec), labels, kinds)
