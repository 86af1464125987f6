"""Coloured triangle meshes from a density field: sample a grid, march cubes, paint the vertices.

Pipeline (each step usable on its own):
    grid = sample_density(field, resolution)        # (N, N, N) densities over the field's cube
    mesh = mesh_from_density(grid, field, threshold) # marching cubes, largest part, smoothing, colours
    save_mesh(mesh, "head.ply")                      # .ply / .obj / .glb, written atomically
:func:`extract_mesh` runs the first two. Vertices are in the field's world coordinates; for a
generated head (:class:`~panohead.export.field.HeadField`) that is the README's frame: y up, the
face towards +z, units of the tri-grid box (side ``box_warp``, 1.0 by default). Triangles wind
counter-clockwise seen from outside, so normals point out.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import mcubes
import numpy as np
import torch
import trimesh

from panohead.atomic import atomic_path
from panohead.export.field import Field
from panohead.export.tasks import FractionReport, check_cancel, report, stage

# Iso-level of density (softplus(sigma - 1), the renderer's quantity); the official scripts extract
# the level 10 of the raw sigma, which is density 9: close to this and equally robust.
DEFAULT_THRESHOLD = 10.0
MeshFormat = Literal["ply", "obj", "glb"]
MESH_FORMATS: tuple[MeshFormat, ...] = get_args(MeshFormat)
RESOLUTION_RANGE = (8, 1024)
# Share of the progress bar taken by density sampling; marching cubes and colouring take the rest.
SAMPLING_SHARE = 0.8
MESHING_DONE = 0.85


@dataclass(frozen=True)
class DensityGrid:
    """Densities on a regular grid: ``values[i, j, k]`` is the density at world point
    ``(lower + i * spacing, lower + j * spacing, lower + k * spacing)``, i.e. axes are (x, y, z)."""

    values: np.ndarray  # (N, N, N) float32
    lower: float
    spacing: float


def default_chunk(device: torch.device) -> int:
    """Points per field evaluation: about 0.5 GB of tri-grid features on a GPU, 30 MB on a CPU."""
    return 2**22 if torch.device(device).type == "cuda" else 2**18


def sample_density(
    field: Field,
    resolution: int = 256,
    chunk: int | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> DensityGrid:
    """Evaluate the field's density at ``resolution``^3 points spanning its cube, corners included.

    About ``chunk`` points at a time are evaluated on the field's device and gathered on the CPU,
    so 512^3 fits a GPU and 256^3 (64 MB of float32) fits CPU memory. Fields with ``density_rows``
    (see :class:`~panohead.export.field.Field`) are read whole x-rows at a time through it.
    """
    low, high = RESOLUTION_RANGE
    if not low <= resolution <= high:
        raise ValueError(f"mesh resolution {resolution} is out of range; use {low} to {high}")
    chunk = chunk or default_chunk(field.device)
    axis = torch.linspace(-field.half_extent, field.half_extent, resolution, device=field.device)
    values = np.empty((resolution, resolution, resolution), dtype=np.float32)
    flat = values.reshape(-1)
    density_rows = getattr(field, "density_rows", None)
    rows_per_chunk = max(1, chunk // resolution**2)
    steps = range(0, resolution, rows_per_chunk) if density_rows else range(0, flat.size, chunk)
    for start in steps:
        check_cancel(cancel)
        if density_rows:
            stop = min(start + rows_per_chunk, resolution)
            values[start:stop] = density_rows(axis, start, stop).float().cpu().numpy()
            report(progress, stop / resolution)
        else:
            index = torch.arange(start, min(start + chunk, flat.size), device=field.device)
            points = torch.stack(
                [axis[index // resolution**2], axis[index // resolution % resolution], axis[index % resolution]], dim=-1
            )
            flat[start : start + len(index)] = field.density(points).float().cpu().numpy()
            report(progress, (start + len(index)) / flat.size)
    spacing = 2 * field.half_extent / (resolution - 1)
    return DensityGrid(values, -field.half_extent, spacing)


def mesh_from_density(
    grid: DensityGrid,
    field: Field,
    threshold: float = DEFAULT_THRESHOLD,
    largest_component: bool = True,
    smooth: int = 0,
    chunk: int | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> trimesh.Trimesh:
    """The closed surface where density crosses ``threshold``, coloured by ``field.colour``.

    The grid is padded with one layer of empty space so a shape touching the cube's faces is still
    closed (watertight). ``largest_component`` drops floaters; ``smooth`` runs that many Taubin
    iterations (shrink-free) before colouring, so colours are read at the final vertex positions.
    """
    peak = float(grid.values.max())
    if not peak > threshold:
        raise ValueError(
            f"no surface: the density never reaches the threshold {threshold:g} "
            f"(its maximum is {peak:.3g}); lower the threshold"
        )
    empty = min(0.0, threshold - 1.0)
    vertices, faces = mcubes.marching_cubes(np.pad(grid.values, 1, constant_values=empty), threshold)
    check_cancel(cancel)
    vertices = (vertices - 1.0) * grid.spacing + grid.lower
    mesh = trimesh.Trimesh(vertices, faces.astype(np.int64), process=False)
    if largest_component:
        keep_largest_component(mesh)
    if smooth > 0:
        trimesh.smoothing.filter_taubin(mesh, iterations=smooth)
    report(progress, MESHING_DONE)
    mesh.visual.vertex_colors = vertex_colours(field, mesh.vertices, chunk, stage(progress, MESHING_DONE, 1.0), cancel)
    return mesh


def keep_largest_component(mesh: trimesh.Trimesh) -> None:
    """Keep only the connected part with the most faces (in place)."""
    labels = trimesh.graph.connected_component_labels(mesh.edges, node_count=len(mesh.vertices))
    face_labels = labels[mesh.faces[:, 0]]
    largest = np.bincount(face_labels).argmax()
    if (face_labels != largest).any():
        mesh.update_faces(face_labels == largest)
        mesh.remove_unreferenced_vertices()


def vertex_colours(
    field: Field,
    vertices: np.ndarray,
    chunk: int | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """RGBA uint8 (V, 4) colours of vertices (V, 3), opaque."""
    chunk = chunk or default_chunk(field.device)
    colours = np.full((len(vertices), 4), 255, dtype=np.uint8)
    for start in range(0, len(vertices), chunk):
        check_cancel(cancel)
        points = torch.as_tensor(vertices[start : start + chunk], dtype=torch.float32, device=field.device)
        colours[start : start + len(points), :3] = (field.colour(points) * 255).round().byte().cpu().numpy()
        report(progress, (start + len(points)) / len(vertices))
    return colours


def extract_mesh(
    field: Field,
    resolution: int = 256,
    threshold: float = DEFAULT_THRESHOLD,
    largest_component: bool = True,
    smooth: int = 0,
    chunk: int | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> trimesh.Trimesh:
    """Coloured mesh of ``field`` (e.g. ``HeadField(generator, head)``) from a ``resolution``^3 grid."""
    grid = sample_density(field, resolution, chunk, stage(progress, 0.0, SAMPLING_SHARE), cancel)
    return mesh_from_density(
        grid, field, threshold, largest_component, smooth, chunk, stage(progress, SAMPLING_SHARE, 1.0), cancel
    )


def mesh_format(path: str | os.PathLike) -> MeshFormat:
    """'ply', 'obj' or 'glb' from the file name; anything else is a one-line error."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        raise ValueError(f"{path}: unknown mesh format {suffix or '(none)'!r}; use .ply, .obj or .glb")
    return suffix


def save_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike) -> None:
    """Write ``mesh`` with its vertex colours as .ply, .obj (``v x y z r g b``) or .glb, atomically."""
    file_type = mesh_format(path)
    with atomic_path(path) as temp:
        mesh.export(temp, file_type=file_type)


def save_density(grid: DensityGrid, path: str | os.PathLike) -> None:
    """Write the raw (N, N, N) float32 density grid as .npy, atomically (axes x, y, z; see DensityGrid)."""
    if Path(path).suffix.lower() != ".npy":
        raise ValueError(f"{path}: the density volume is written as .npy")
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.save(handle, grid.values)
