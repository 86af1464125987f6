"""UV-textured meshes: decimate a marched mesh, unwrap it into an atlas, bake the generator's images into it.

    mesh = extract_mesh(field, 256)                       # marching cubes (panohead.export.mesh)
    textured = texture_mesh(mesh, views, TextureSettings(), fallback=field)
    save_textured_mesh(textured, "head.glb")              # or head.obj (+ .mtl + .png beside it)

Baking projects the final super-resolved images of many views (:mod:`panohead.export.views`) onto
the surface: each texel takes the average of the views that see it (a depth test against the mesh
itself), weighted by how squarely they see it (cos^2 of the angle between the normal and the view
ray) and by the head's mask. Texels no view sees take the field's colour (the raw path); the empty
atlas around the charts is filled from the nearest chart texel, so bilinear filtering and mip-maps
never pull in black seams.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import fast_simplification
import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from PIL import Image
from scipy import ndimage

from panohead.atomic import atomic_path, write_bytes_atomic
from panohead.camera import project
from panohead.export.field import Field
from panohead.export.heads import Head
from panohead.export.raster import rasterize, render_depth, sample_image
from panohead.export.tasks import FractionReport, check_cancel, report, stage
from panohead.export.views import BAKE_ORBIT, View, generator_views, orbit_views
from panohead.generator import PanoHeadGenerator

TexturedFormat = Literal["glb", "obj"]  # the mesh formats that hold a texture (see MeshFormat)
TEXTURED_FORMATS: tuple[TexturedFormat, ...] = get_args(TexturedFormat)
TEXTURE_SIZES = (256, 512, 1024, 2048, 4096)
# A texel is visible in a view when it is at most this far (world units, the tri-grid box is 1.0)
# behind the mesh's own depth there: about two pixels of a 128-pixel view, so it absorbs the
# rasterised depth's error without seeing through the head.
DEPTH_TOLERANCE = 0.01
# Views whose weighted mask coverage of a texel sums below this leave it to the fallback colour.
MIN_WEIGHT = 0.02
ANGLE_POWER = 2.0
# Gaps between charts in the atlas, in texels, so bilinear lookups stay inside a chart.
CHART_PADDING = 4
# Share of a head's texturing progress taken by rendering its views; unwrapping and baking take the rest.
RENDER_SHARE = 0.5


@dataclass(frozen=True)
class TextureSettings:
    """``faces``: the decimation budget (triangles); ``size``: the texture's side in pixels.

    25k faces: on the bundled model 50k and 100k gave the same fidelity (25.9 dB, SSIM 0.855 on
    held-out views) in a file up to 2.7 times larger (docs/export.md, face budget); the UV unwrap
    (xatlas, single-threaded) grows faster than linearly with the face count.
    """

    faces: int = 25_000
    size: int = 2048

    def __post_init__(self) -> None:
        if self.faces < 100:
            raise ValueError(f"face budget {self.faces} is too small; use at least 100")
        if self.size not in TEXTURE_SIZES:
            raise ValueError(
                f"texture size {self.size} is not supported; use one of {', '.join(map(str, TEXTURE_SIZES))}"
            )


def decimate(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """Quadric-error simplification of ``mesh`` down to about ``faces`` triangles (a copy; unchanged if
    already within budget). Vertex colours are dropped: the texture replaces them."""
    if len(mesh.faces) <= faces:
        return trimesh.Trimesh(mesh.vertices.copy(), mesh.faces.copy(), process=False)
    simplified = fast_simplification.simplify(
        mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), target_reduction=1.0 - faces / len(mesh.faces)
    )
    vertices, triangles = simplified[0], simplified[1]  # (a third entry, the collapses, only when asked for)
    return trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(triangles, dtype=np.int64), process=False)


def unwrap(mesh: trimesh.Trimesh, size: int) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Cut ``mesh`` into charts packed in one square atlas of ``size`` texels (xatlas, in a child
    process: see :mod:`panohead.export.xatlas_child`).

    Returns the mesh with vertices split along the seams and its UVs (V, 2) in [0, 1], with
    v = 0 at the bottom of the image (the OBJ convention trimesh uses).
    """
    request = io.BytesIO()
    for array in (mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), np.array([size, CHART_PADDING])):
        np.save(request, array)
    # The child finds xatlas where this process does: its module path is ours (PYTHONPATH set from
    # sys.path), not a fresh interpreter's, which misses packages on PYTHONPATH or in a user site.
    child = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("xatlas_child.py"))],
        input=request.getvalue(),
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)},
    )
    if child.returncode != 0:
        reason = (child.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the UV unwrap (xatlas) failed with exit status {child.returncode}: {reason}")
    reply = io.BytesIO(child.stdout)
    vmapping, indices, uvs = (np.load(reply) for _ in range(3))
    unwrapped = trimesh.Trimesh(mesh.vertices[vmapping], indices.astype(np.int64), process=False)
    return unwrapped, np.clip(uvs.astype(np.float64), 0.0, 1.0)


def start_unwrap(mesh: trimesh.Trimesh, size: int) -> Future[tuple[trimesh.Trimesh, np.ndarray]]:
    """:func:`unwrap` running meanwhile: the caller renders the baking views while xatlas cuts and
    packs (its child process leaves this one's GIL free), then takes ``.result()``."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unwrap")
    future = pool.submit(unwrap, mesh, size)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


@dataclass(frozen=True)
class Texels:
    """The atlas texels the mesh covers: ``index`` (K,) flat texel indices into the (S, S) image
    (row 0 at the top), ``points`` (K, 3) their world positions, ``normals`` (K, 3) unit normals."""

    index: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor


def atlas_texels(mesh: trimesh.Trimesh, uv: np.ndarray, size: int, device: torch.device | str = "cpu") -> Texels:
    """Rasterise the mesh in UV space (on ``device``) to find each covered texel's surface point and normal."""
    faces = torch.as_tensor(mesh.faces, dtype=torch.long, device=device)
    pixels = torch.as_tensor(np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=-1) * size, dtype=torch.float32, device=device)
    fragments = rasterize(pixels[faces], torch.ones(len(faces), 3, device=device), size, size, perspective=False)
    vertices = torch.as_tensor(mesh.vertices, dtype=torch.float32, device=device)
    normals = torch.as_tensor(np.array(mesh.vertex_normals), dtype=torch.float32, device=device)
    return Texels(
        fragments.covered.reshape(-1).nonzero()[:, 0],
        fragments.interpolate(vertices, faces),
        F.normalize(fragments.interpolate(normals, faces), dim=-1),
    )


def view_colours(
    points: torch.Tensor,
    normals: torch.Tensor,
    mesh: trimesh.Trimesh,
    views: list[View],
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``views`` show at surface ``points`` (K, 3) with unit ``normals`` (K, 3) of ``mesh``:
    colours (K, 3), the weighted mean over the views that see each point (see the module doc), and
    the weights' sums (K,) (below :data:`MIN_WEIGHT`: no view really sees it). Runs on the points' device."""
    device = points.device
    vertices = torch.as_tensor(mesh.vertices, dtype=torch.float32, device=device)
    faces = torch.as_tensor(mesh.faces, dtype=torch.long, device=device)
    colour_sum = torch.zeros(len(points), 3, device=device)
    weight_sum = torch.zeros(len(points), device=device)
    for number, view in enumerate(views):
        check_cancel(cancel)
        label, image, mask = view.label.to(device), view.image.to(device), view.mask.to(device)
        resolution = image.shape[0]
        zbuffer = render_depth(vertices, faces, label, resolution).depth
        uv, depth = project(points[None], label)
        pixels, depth = uv[0] * resolution, depth[0]
        column, row = pixels[:, 0].floor().long(), pixels[:, 1].floor().long()
        inside = (column >= 0) & (column < resolution) & (row >= 0) & (row < resolution) & (depth > 0)
        nearest = zbuffer[row.clamp(0, resolution - 1), column.clamp(0, resolution - 1)]
        visible = inside & (depth <= nearest + DEPTH_TOLERANCE)
        origin = label[0, :16].reshape(4, 4)[:3, 3]
        facing = (F.normalize(origin - points, dim=-1) * normals).sum(dim=-1).clamp(min=0)
        weight = facing**ANGLE_POWER * visible
        colour_sum += weight[:, None] * sample_image(image, pixels)  # premultiplied by the mask
        weight_sum += weight * sample_image(mask[..., None], pixels)[:, 0]
        report(progress, (number + 1) / len(views))
    return colour_sum / weight_sum.clamp(min=MIN_WEIGHT)[:, None], weight_sum


def bake_texture(
    mesh: trimesh.Trimesh,
    uv: np.ndarray,
    views: list[View],
    size: int,
    fallback: Field | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """(size, size, 3) uint8 texture of ``mesh`` with ``uv`` from the pictures ``views`` (see module doc),
    computed on ``device`` (the generator's: a 2048 atlas has millions of texels to project 24 times).

    ``fallback`` colours the texels no view sees (for a head its :class:`~panohead.export.field.HeadField`,
    the raw path's colour); without it they are filled like the empty atlas.
    """
    texels = atlas_texels(mesh, uv, size, device)
    colour, weight = view_colours(texels.points, texels.normals, mesh, views, stage(progress, 0.0, 0.9), cancel)
    seen = weight > MIN_WEIGHT
    filled = seen.clone()
    if fallback is not None and not seen.all():
        colour[~seen] = fallback.colour(texels.points[~seen].to(fallback.device)).float().to(device)
        filled[:] = True
    texture = np.zeros((size * size, 3), dtype=np.float32)
    known = np.zeros(size * size, dtype=bool)
    index = texels.index[filled].cpu().numpy()
    texture[index] = colour[filled].clamp(0, 1).cpu().numpy()
    known[index] = True
    texture, known = texture.reshape(size, size, 3), known.reshape(size, size)
    if known.any():
        # Every empty texel copies its nearest filled one: no dark seams at chart edges.
        nearest = np.empty((2, size, size), dtype=np.int32)  # filled in place (the return value is untyped)
        ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True, indices=nearest)
        texture = texture[nearest[0], nearest[1]]
    report(progress, 1.0)
    return (texture * 255).round().astype(np.uint8)


def texture_mesh(
    mesh: trimesh.Trimesh,
    views: list[View],
    settings: TextureSettings = TextureSettings(),
    fallback: Field | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> trimesh.Trimesh:
    """Decimate ``mesh`` to the face budget, unwrap it and bake ``views`` into its texture."""
    atlas = start_unwrap(decimate(mesh, settings.faces), settings.size)
    return bake_atlas(atlas, views, settings.size, fallback, progress, cancel)


def bake_atlas(
    atlas: Future[tuple[trimesh.Trimesh, np.ndarray]],
    views: list[View],
    size: int,
    fallback: Field | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
    device: torch.device | str = "cpu",
) -> trimesh.Trimesh:
    """The unwrapped mesh of ``atlas`` (from :func:`start_unwrap`) with ``views`` baked into its texture."""
    unwrapped, uv = atlas.result()
    check_cancel(cancel)
    report(progress, 0.2)
    image = bake_texture(unwrapped, uv, views, size, fallback, stage(progress, 0.2, 1.0), cancel, device)
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(image), diffuse=(255, 255, 255, 255))
    unwrapped.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(image), material=material)
    return unwrapped


def texture_head_mesh(
    generator: PanoHeadGenerator,
    head: Head,
    mesh: trimesh.Trimesh,
    settings: TextureSettings = TextureSettings(),
    fallback: Field | None = None,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> trimesh.Trimesh:
    """:func:`texture_mesh` of a generated head's ``mesh`` from its final images at the views of
    :data:`~panohead.export.views.BAKE_ORBIT`; ``fallback`` is usually its ``HeadField``."""
    atlas = start_unwrap(decimate(mesh, settings.faces), settings.size)  # on the CPU while the views render
    cameras = orbit_views(generator, BAKE_ORBIT)
    views = generator_views(generator, head, cameras, stage(progress, 0.0, RENDER_SHARE), cancel)
    return bake_atlas(
        atlas, views, settings.size, fallback, stage(progress, RENDER_SHARE, 1.0), cancel, generator.device
    )


def textured_format(path: str | os.PathLike) -> TexturedFormat:
    """'glb' or 'obj' from the file name; anything else is a one-line error."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in TEXTURED_FORMATS:
        raise ValueError(f"{path}: a textured mesh is written as .glb or .obj, not {suffix or '(none)'!r}")
    return suffix


def save_textured_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike) -> list[Path]:
    """Write ``mesh`` with its texture: one .glb (PNG embedded), or .obj with a .mtl and a .png of
    the same stem beside it (``map_Kd`` names the .png). Each file is written atomically; returns the
    paths written, ``path`` first."""
    path = Path(path)
    if textured_format(path) == "glb":
        with atomic_path(path) as temp:
            mesh.export(temp, file_type="glb")
        return [path]
    named = mesh.copy()
    named.visual.material.name = path.stem  # trimesh names the .png after the material
    text, files = trimesh.exchange.obj.export_obj(
        named, include_texture=True, include_normals=True, mtl_name=f"{path.stem}.mtl", return_texture=True
    )
    written = []
    for name, data in files.items():
        target = path.parent / Path(name).name
        write_bytes_atomic(target, data)
        written.append(target)
    write_bytes_atomic(path, text.encode())
    return [path, *written]
