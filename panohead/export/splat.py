"""3D Gaussian splats of a head: seeded on its surface, fitted to the generator's own images, saved as 3DGS .ply.

    mesh = extract_mesh(field, 128)                              # where the surface is
    gaussians = surface_gaussians(mesh, 20_000, field)           # flat discs on it, raw-path colours
    gaussians, losses = fit_gaussians(gaussians, views, SplatSettings())
    save_splat(gaussians, "head.ply")
    backdrop = splat_background(generator, head, gaussians, SplatSettings(background=10_000))
    save_splat(backdrop, "head_background.ply")                 # a second set, same frame and layout

The .ply is the layout of the 3DGS reference code that splat viewers read: per vertex, float32
``x y z nx ny nz f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3``; normals are zero, opacity is
a logit, scales are logs, ``rot`` is a (w, x, y, z) quaternion, and ``f_rest`` holds bands 1-3
channel by channel (R's 15, then G's, then B's). We fit bands 0 and 1 (degree 1); the degree-2 and
-3 coefficients are written as zeros. Positions are in our world frame (y up, face towards +z,
tri-grid box units), like the meshes.

The generator's background is a picture behind the head (a 2D network composited by the head's
mask), not part of the 3D scene. Its splat set is a backdrop: Gaussians on a sphere around the
orbit's pivot just outside the cameras' orbit (:data:`BACKGROUND_RADIUS`), seeded where the baking
views' rays through background pixels meet it, then fitted with the head's set fixed in front so
that both together match the generator's whole pictures. Loaded together (same frame, same
layout) they show the head in front of its background from the orbit's cameras.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from panohead.atomic import write_bytes_atomic
from panohead.camera import pixel_rays, split_label
from panohead.export.field import Field
from panohead.export.gaussians import SH_BANDS, SH_C0, Gaussians, render_gaussians
from panohead.export.heads import Head
from panohead.export.tasks import FractionReport, check_cancel, report, stage
from panohead.export.texture import MIN_WEIGHT, view_colours
from panohead.export.views import BAKE_ORBIT, View, generator_views, orbit_views
from panohead.generator import PanoHeadGenerator

REST_PER_CHANNEL = 15  # bands 1-3 of degree-3 SH
PLY_PROPERTIES = (
    ["x", "y", "z", "nx", "ny", "nz"]
    + [f"f_dc_{i}" for i in range(3)]
    + [f"f_rest_{i}" for i in range(3 * REST_PER_CHANNEL)]
    + ["opacity"]
    + [f"scale_{i}" for i in range(3)]
    + [f"rot_{i}" for i in range(4)]
)
INITIAL_OPACITY = 0.7
# Initial discs: as wide as the mean sample spacing, a third of that thick along the normal.
INITIAL_THICKNESS = 0.3
# The backdrop sphere's radius in units of the camera's distance from the pivot: just outside the
# orbit, so its near side is behind every orbit camera and its far side covers their pictures.
BACKGROUND_RADIUS = 1.2
BACKGROUND_OPACITY = 0.95
BACKGROUND_SUFFIX = "_background"  # head.ply's backdrop set goes to head_background.ply


@dataclass(frozen=True)
class SplatSettings:
    """How many Gaussians and optimisation steps, and the learning rates.

    The rates start at ``lr_boost`` times 3DGS's for a unit-size scene and fall exponentially to
    ``lr_final`` of that by the last step (3DGS decays its position rate over its 30k steps; this
    fit is a few hundred, and its last steps settle at the small rates). With
    the Gaussians coloured from the final images at the start, this schedule reaches 30 dB on the
    bundled model in 400 steps where constant rates from the raw path's colours needed about 600
    (10,000 Gaussians; docs/export.md, "Splat steps"); 800 is the default for twice as many.
    """

    count: int = 20_000
    steps: int = 800
    background: int = 0  # Gaussians of the backdrop set (0: none)
    lr_means: float = 1.6e-4
    lr_sh: float = 2.5e-3
    lr_opacity: float = 0.05
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_boost: float = 2.0
    lr_final: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"Gaussian count {self.count} must be at least 1")
        if self.steps < 0:
            raise ValueError(f"steps {self.steps} must not be negative")
        if self.background < 0:
            raise ValueError(f"background Gaussian count {self.background} must not be negative")


def quaternions_from_z(normals: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) quaternions (N, 4) turning the z axis onto unit ``normals`` (N, 3)."""
    nx, ny, nz = normals.unbind(-1)
    quats = torch.stack([1 + nz, -ny, nx, torch.zeros_like(nz)], dim=-1)
    opposite = (1 + nz) < 1e-6  # half a turn about x
    quats[opposite] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    return F.normalize(quats, dim=-1)


def surface_gaussians(
    mesh: trimesh.Trimesh, count: int, field: Field, seed: int = 0, views: list[View] | None = None
) -> Gaussians:
    """``count`` flat Gaussians spread evenly over ``mesh``, lying in its surface, coloured as
    ``views`` show them (the texture bake's weighted mean, :func:`~panohead.export.texture.view_colours`)
    where a view sees them, else by ``field`` (for a head, :class:`~panohead.export.field.HeadField`:
    the raw path's colour, which is blurrier and tinted unlike the final images)."""
    sampled = trimesh.sample.sample_surface(mesh, count, seed=seed)
    points, face_index = sampled[0], sampled[1]  # (colours come third only when asked for)
    means = torch.as_tensor(points, dtype=torch.float32)
    normals = torch.as_tensor(mesh.face_normals[face_index], dtype=torch.float32)
    spacing = math.sqrt(mesh.area / count)
    log_scales = torch.tensor([spacing, spacing, spacing * INITIAL_THICKNESS]).log().expand(count, 3).clone()
    colours = field.colour(means.to(field.device)).float().cpu()
    if views:
        # On the field's device (the generator's): 24 depth renders of the surface mesh and projections.
        seen_colours, weight = view_colours(means.to(field.device), normals.to(field.device), mesh, views)
        seen = (weight > MIN_WEIGHT).cpu()
        colours[seen] = seen_colours.cpu()[seen].clamp(0, 1)
    sh = torch.zeros(count, SH_BANDS, 3)
    sh[:, 0] = (colours - 0.5) / SH_C0
    logit = math.log(INITIAL_OPACITY / (1 - INITIAL_OPACITY))
    return Gaussians(means, log_scales, quaternions_from_z(normals), torch.full((count,), logit), sh)


def fit_gaussians(
    gaussians: Gaussians,
    views: list[View],
    settings: SplatSettings = SplatSettings(),
    device: torch.device | str = "cpu",
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
    front: Gaussians | None = None,
    extent: float = 1.0,
) -> tuple[Gaussians, list[float]]:
    """Optimise ``gaussians`` on ``device`` so their renders match ``views`` (one random view per
    step, on black): L1 on colour plus L1 on alpha against the mask. Returns the fitted Gaussians,
    without the transparent ones (alpha < 1/255 everywhere), and the loss of every step.

    With ``front`` (a fitted head, kept fixed), ``gaussians`` are its background: each step renders
    both sets together against a whole picture (``views`` with their background), alpha against 1.
    ``extent`` scales the position learning rate to the scene's size (3DGS's convention).
    """
    fixed = None if front is None else Gaussians(**{k: v.detach().to(device) for k, v in front.parameters().items()})
    fitted = Gaussians(
        **{
            name: value.detach().clone().to(device).requires_grad_(True)
            for name, value in gaussians.parameters().items()
        }
    )
    rates = {
        "means": settings.lr_means * extent,
        "sh": settings.lr_sh,
        "opacity_logits": settings.lr_opacity,
        "log_scales": settings.lr_scales,
        "quats": settings.lr_quats,
    }
    groups = [{"params": [tensor], "lr": rates[name], "name": name} for name, tensor in fitted.parameters().items()]
    optimiser = torch.optim.Adam(groups, eps=1e-15)
    order = torch.Generator().manual_seed(settings.seed)
    on_device = [(view.label.to(device), view.image.to(device), view.mask.to(device)) for view in views]
    losses = []
    for step in range(settings.steps):
        check_cancel(cancel)
        factor = settings.lr_boost * settings.lr_final ** (step / max(settings.steps - 1, 1))
        for group in optimiser.param_groups:
            group["lr"] = rates[group["name"]] * factor
        label, target, target_alpha = on_device[int(torch.randint(len(views), (1,), generator=order))]
        shown = fitted
        if fixed is not None:
            shown = Gaussians.cat([fixed, fitted])
            target_alpha = torch.ones_like(target_alpha)
        image, alpha = render_gaussians(shown, label, target.shape[0])
        loss = (image - target).abs().mean() + (alpha - target_alpha).abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())  # read once at the end: a read per step would wait for the device
        report(progress, (step + 1) / max(settings.steps, 1))
    kept = fitted.subset(torch.sigmoid(fitted.opacity_logits.detach()) >= 1 / 255)
    return kept, torch.stack(losses).tolist() if losses else []


def splat_head(
    generator: PanoHeadGenerator,
    head: Head,
    mesh: trimesh.Trimesh,
    field: Field,
    settings: SplatSettings = SplatSettings(),
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> Gaussians:
    """Gaussians of a generated head: seeded on its ``mesh``, fitted to its final images at the
    views of :data:`~panohead.export.views.BAKE_ORBIT`."""
    views = generator_views(generator, head, orbit_views(generator, BAKE_ORBIT), stage(progress, 0.0, 0.2), cancel)
    initial = surface_gaussians(mesh, settings.count, field, settings.seed, views)
    return fit_gaussians(initial, views, settings, generator.device, stage(progress, 0.2, 1.0), cancel)[0]


def backdrop_gaussians(views: list[View], count: int, centre: torch.Tensor, radius: float) -> Gaussians:
    """About ``count`` Gaussians (split evenly over ``views``, whole pictures) where each view's rays
    through a grid of its pixels leave the sphere (``centre`` (3,), ``radius``, around the cameras),
    coloured as those pixels where the head does not cover them (mask < 1/2), as opaque discs
    facing the centre, as wide as the grid's spacing there."""
    grid = max(int(math.sqrt(count / len(views))), 1)
    means, colours, widths, normals = [], [], [], []
    for view in views:
        size = view.image.shape[0]
        origins, directions = pixel_rays(view.label.float(), grid)  # (1, grid^2, 3), rows then columns
        offset = origins[0] - centre
        along = (directions[0] * offset).sum(-1)
        distance = -along + (along**2 - (offset**2).sum(-1) + radius**2).clamp(min=0).sqrt()  # far exit
        points = origins[0] + distance[:, None] * directions[0]
        rows, columns = torch.meshgrid(
            (torch.arange(grid) + 0.5) * (size / grid), (torch.arange(grid) + 0.5) * (size / grid), indexing="ij"
        )
        pixels = torch.stack([columns.reshape(-1), rows.reshape(-1)], dim=-1).long().clamp(max=size - 1)
        behind = view.mask[pixels[:, 1], pixels[:, 0]] < 0.5
        colour = view.image[pixels[:, 1], pixels[:, 0]]
        # Behind the head (seen from other views) the seed takes this view's mean background colour.
        colour[~behind] = colour[behind].mean(dim=0) if behind.any() else 0.5
        focal = split_label(view.label.float())[1][0, 0, 0]
        means.append(points)
        colours.append(colour)
        widths.append(distance / (focal * grid))
        normals.append(F.normalize(centre - points, dim=-1))
    means, colours, widths = torch.cat(means), torch.cat(colours), torch.cat(widths)
    log_scales = torch.stack([widths, widths, widths * INITIAL_THICKNESS], dim=-1).log()
    sh = torch.zeros(len(means), SH_BANDS, 3)
    sh[:, 0] = (colours - 0.5) / SH_C0
    logit = math.log(BACKGROUND_OPACITY / (1 - BACKGROUND_OPACITY))
    return Gaussians(means, log_scales, quaternions_from_z(torch.cat(normals)), torch.full((len(means),), logit), sh)


def splat_background(
    generator: PanoHeadGenerator,
    head: Head,
    front: Gaussians,
    settings: SplatSettings,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
) -> Gaussians:
    """``settings.background`` Gaussians of the head's background (see the module doc), fitted
    behind the head's fitted set ``front`` to the generator's whole pictures from the baking views."""
    if head.background is None:
        raise ValueError("this model has no background network; export the splats without --background")
    config = generator.config
    views = generator_views(
        generator, head, orbit_views(generator, BAKE_ORBIT), stage(progress, 0.0, 0.2), cancel, with_background=True
    )
    radius = BACKGROUND_RADIUS * config.camera_radius
    initial = backdrop_gaussians(views, settings.background, torch.tensor(config.look_at, dtype=torch.float32), radius)
    fit = fit_gaussians(initial, views, settings, generator.device, stage(progress, 0.2, 1.0), cancel, front, radius)
    return fit[0]


def background_path(path: str | os.PathLike) -> Path:
    """Where the backdrop set of the splats in ``path`` is written: ``NAME_background.ply`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}{BACKGROUND_SUFFIX}{path.suffix}")


def splat_table(gaussians: Gaussians) -> np.ndarray:
    """(N, 62) float32 rows in :data:`PLY_PROPERTIES` order."""
    count = len(gaussians)
    sh = gaussians.sh.detach().float().cpu()
    rest = torch.zeros(count, 3, REST_PER_CHANNEL)
    rest[:, :, : SH_BANDS - 1] = sh[:, 1:].transpose(1, 2)  # (N, channel, band - 1)
    columns = [
        gaussians.means.detach().float().cpu(),
        torch.zeros(count, 3),
        sh[:, 0],
        rest.reshape(count, -1),
        gaussians.opacity_logits.detach().float().cpu()[:, None],
        gaussians.log_scales.detach().float().cpu(),
        F.normalize(gaussians.quats.detach().float().cpu(), dim=-1),
    ]
    return torch.cat(columns, dim=1).numpy().astype("<f4")


def save_splat(gaussians: Gaussians, path: str | os.PathLike) -> None:
    """Write the binary little-endian 3DGS .ply (see the module doc), atomically."""
    if Path(path).suffix.lower() != ".ply":
        raise ValueError(f"{path}: Gaussian splats are written as .ply")
    header = (
        "\n".join(
            ["ply", "format binary_little_endian 1.0", f"element vertex {len(gaussians)}"]
            + [f"property float {name}" for name in PLY_PROPERTIES]
            + ["end_header"]
        )
        + "\n"
    )
    write_bytes_atomic(path, header.encode("ascii") + splat_table(gaussians).tobytes())


def load_splat(path: str | os.PathLike) -> Gaussians:
    """Read a 3DGS .ply written by :func:`save_splat` or the reference code (degree-1 SH kept)."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0 or b"binary_little_endian" not in data[:end]:
        raise ValueError(f"{path}: not a binary little-endian .ply")
    lines = data[:end].decode("ascii").splitlines()
    count = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
    names = [line.split()[2] for line in lines if line.startswith("property float")]
    missing = sorted(set(PLY_PROPERTIES[:9] + PLY_PROPERTIES[-8:]) - set(names))
    if missing or len(names) != sum(line.startswith("property") for line in lines):
        raise ValueError(f"{path}: not a 3DGS splat file (missing {', '.join(missing) or 'float properties'})")
    table = torch.from_numpy(
        np.frombuffer(data, dtype="<f4", count=count * len(names), offset=end + len(b"end_header\n"))
        .reshape(count, len(names))
        .copy()
    )
    column = {name: table[:, index] for index, name in enumerate(names)}
    rest_names = [f"f_rest_{i}" for i in range(3 * REST_PER_CHANNEL)]
    sh = torch.zeros(count, SH_BANDS, 3)
    sh[:, 0] = torch.stack([column[f"f_dc_{i}"] for i in range(3)], dim=-1)
    if all(name in column for name in rest_names):
        rest = torch.stack([column[name] for name in rest_names], dim=-1).reshape(count, 3, REST_PER_CHANNEL)
        sh[:, 1:] = rest[:, :, : SH_BANDS - 1].transpose(1, 2)
    stack = lambda prefix, n: torch.stack([column[f"{prefix}{i}"] for i in range(n)], dim=-1)  # noqa: E731
    means = torch.stack([column["x"], column["y"], column["z"]], dim=-1)
    return Gaussians(means, stack("scale_", 3), stack("rot_", 4), column["opacity"], sh)
