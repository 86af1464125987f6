"""3D Gaussians and a differentiable tile rasteriser for them, in plain PyTorch (no CUDA extension).

This is the reference splatting of 3D Gaussian Splatting (Kerbl et al. 2023): each Gaussian
(mean, scale, rotation, opacity, spherical-harmonic colour) is projected with the local affine
approximation of the perspective map (EWA splatting, Zwicker et al. 2002),

    Sigma' = J W Sigma W^T J^T + blur * I,      Sigma = R S S^T R^T,

and the Gaussians overlapping a pixel are composited front to back (sorted by the depth of their
centres, as in the paper):

    C = sum_i c_i alpha_i prod_{j<i} (1 - alpha_j),  alpha_i = o_i exp(-d^T Sigma'^-1 d / 2).

Instead of the paper's 16 x 16 tiles, each Gaussian lists the pixels of its box out to alpha
>= 1/255 (the paper's cut-off); the (Gaussian, pixel) entries are sorted by pixel and depth and
composited with a segmented cumulative sum, so the work is proportional to the pixels the Gaussians
really cover: a few thousand Gaussians at 128-256 pixels fit a CPU. It runs on any device and is
the fallback where no CUDA rasteriser is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from panohead.camera import split_label

# 3DGS's screen-space low-pass filter (pixels^2): no Gaussian is thinner than about a pixel.
BLUR = 0.3
# Gaussians whose centres lie outside the view frustum widened by this factor are culled (3DGS's
# limit): the affine approximation fails far off-axis, where a Gaussian close beside the camera
# would be smeared over the whole image (a backdrop around the cameras has such Gaussians).
FRUSTUM_MARGIN = 1.3
MAX_ALPHA = 0.99
SH_C0 = 0.28209479177387814  # Y_0^0
SH_C1 = 0.4886025119029199  # |Y_1^m| / (x, y, z)
SH_DEGREE = 1
SH_BANDS = (SH_DEGREE + 1) ** 2


@dataclass
class Gaussians:
    """N Gaussians as optimised: ``means`` (N, 3) world, ``log_scales`` (N, 3), ``quats`` (N, 4) as
    (w, x, y, z) (normalised on use), ``opacity_logits`` (N,), ``sh`` (N, SH_BANDS, 3) colour
    coefficients (band 0 is the DC term; RGB = 0.5 + SH, the 3DGS convention)."""

    means: torch.Tensor
    log_scales: torch.Tensor
    quats: torch.Tensor
    opacity_logits: torch.Tensor
    sh: torch.Tensor

    def __len__(self) -> int:
        return self.means.shape[0]

    def parameters(self) -> dict[str, torch.Tensor]:
        return {
            "means": self.means,
            "log_scales": self.log_scales,
            "quats": self.quats,
            "opacity_logits": self.opacity_logits,
            "sh": self.sh,
        }

    def subset(self, keep: torch.Tensor) -> Gaussians:
        return Gaussians(**{name: value[keep].detach() for name, value in self.parameters().items()})

    @staticmethod
    def cat(sets: list[Gaussians]) -> Gaussians:
        """One set of all of ``sets`` (e.g. a head and its backdrop, rendered together)."""
        return Gaussians(**{name: torch.cat([s.parameters()[name] for s in sets]) for name in sets[0].parameters()})


def rotation_matrices(quats: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (N, 4) as (w, x, y, z) -> rotation matrices (N, 3, 3)."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)


def sh_colour(sh: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3) of SH coefficients (N, B, 3) seen along unit ``directions`` (N, 3) (camera to
    Gaussian), bands up to degree 1 in the order and signs 3DGS writes them."""
    colour = 0.5 + SH_C0 * sh[:, 0]
    if sh.shape[1] > 1:
        x, y, z = directions[:, :1], directions[:, 1:2], directions[:, 2:3]
        colour = colour - SH_C1 * y * sh[:, 1] + SH_C1 * z * sh[:, 2] - SH_C1 * x * sh[:, 3]
    return colour.clamp(min=0)


@dataclass(frozen=True)
class Splats:
    """Gaussians projected into one image: ``centres`` (N, 2) pixels, ``conics`` (N, 3) the upper
    triangle (a, b, c) of the inverse 2D covariance, ``depths`` (N,),
    ``colours`` (N, 3), ``opacities`` (N,), ``extents`` (N, 2) the half-sizes in pixels of the box
    around the ellipse where alpha >= 1/255 (0: culled)."""

    centres: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    colours: torch.Tensor
    opacities: torch.Tensor
    extents: torch.Tensor


def project_gaussians(
    gaussians: Gaussians, label: torch.Tensor, size: int, blur: float = BLUR, near: float = 0.01
) -> Splats:
    """EWA projection of ``gaussians`` into the ``size`` x ``size`` image of camera ``label`` (1, 25)."""
    cam2world, intrinsics = split_label(label.to(gaussians.means))
    rotation, origin = cam2world[0, :3, :3], cam2world[0, :3, 3]
    local = (gaussians.means - origin) @ rotation  # camera frame: x right, y down, z forward
    x, y, z = local.unbind(-1)
    fx, fy = intrinsics[0, 0, 0] * size, intrinsics[0, 1, 1] * size
    cx, cy = intrinsics[0, 0, 2] * size, intrinsics[0, 1, 2] * size
    safe_z = z.clamp(min=near)
    centres = torch.stack([fx * x / safe_z + cx, fy * y / safe_z + cy], dim=-1)
    scales = gaussians.log_scales.exp()
    world_r = rotation_matrices(gaussians.quats)
    m = world_r * scales[:, None, :]  # R S
    cov_world = m @ m.transpose(1, 2)
    cov_camera = rotation.T @ cov_world @ rotation
    zeros = torch.zeros_like(safe_z)
    jacobian = torch.stack(
        [
            torch.stack([fx / safe_z, zeros, -fx * x / safe_z**2], dim=-1),
            torch.stack([zeros, fy / safe_z, -fy * y / safe_z**2], dim=-1),
        ],
        dim=1,
    )  # (N, 2, 3)
    cov = jacobian @ cov_camera @ jacobian.transpose(1, 2)
    a, b, c = cov[:, 0, 0] + blur, cov[:, 0, 1], cov[:, 1, 1] + blur
    det = (a * c - b * b).clamp(min=1e-12)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    opacities = torch.sigmoid(gaussians.opacity_logits)
    # Out to where alpha falls below 1/255 (3DGS cuts at 3 sigma of the major axis; this is exact).
    reach = (2 * torch.log((255 * opacities).clamp(min=1))).sqrt()
    extents = (reach[:, None] * torch.stack([a, c], dim=-1).sqrt()).detach()
    in_frustum = (
        (z > near) & ((x / safe_z).abs() * fx <= FRUSTUM_MARGIN * cx) & ((y / safe_z).abs() * fy <= FRUSTUM_MARGIN * cy)
    )
    extents = extents * in_frustum[:, None]
    directions = F.normalize(gaussians.means - origin, dim=-1)
    return Splats(centres, conics, z, sh_colour(gaussians.sh, directions), opacities, extents)


def render_gaussians(
    gaussians: Gaussians, label: torch.Tensor, size: int, background: torch.Tensor | None = None, blur: float = BLUR
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite ``gaussians`` seen by camera ``label`` (1, 25) -> image (S, S, 3) and alpha (S, S).

    ``background`` (3,) shows where alpha < 1 (default black). Differentiable in every parameter.
    """
    device = gaussians.means.device
    splats = project_gaussians(gaussians, label, size, blur)
    # Gaussians front to back: entries made Gaussian by Gaussian in this order and then stably sorted by
    # pixel are in compositing order. Their per-Gaussian numbers travel as one (N, 9) table (centre,
    # conic, opacity, colour) read with one index_select: its backward is one index_add (an indexed
    # read's backward sorts its E indices on a GPU, once per tensor read).
    front_to_back = splats.depths.detach().argsort()
    table = torch.cat([splats.centres, splats.conics, splats.opacities[:, None], splats.colours], dim=1)
    table = table.index_select(0, front_to_back)
    extents = splats.extents.index_select(0, front_to_back)
    # Each Gaussian's bounding box of its alpha >= 1/255 ellipse, in whole pixels, clipped to the image.
    centre = table[:, :2].detach()
    low = (centre - extents - 0.5).ceil().long().clamp(min=0)
    high = (centre + extents - 0.5).floor().long().clamp(max=size - 1)
    span = (high - low + 1).clamp(min=0)
    counts = span[:, 0] * span[:, 1] * (extents[:, 0] > 0)
    owner = torch.repeat_interleave(torch.arange(len(gaussians), device=device), counts)
    first = (counts.cumsum(0) - counts).index_select(0, owner)
    low, width = low.index_select(0, owner), span[:, 0].index_select(0, owner)
    offset = torch.arange(len(owner), device=device) - first
    column, row = low[:, 0] + offset % width, low[:, 1] + offset // width
    with torch.no_grad():  # drop the box's corners outside the ellipse before anything keeps gradients
        kept = (_alpha(table.detach().index_select(0, owner).unbind(1), column, row) >= 1 / 255).nonzero()[:, 0]
    pixel = row.index_select(0, kept) * size + column.index_select(0, kept)
    pixel, order = pixel.to(torch.int32).sort(stable=True)  # by pixel, front to back within each
    pixel, kept = pixel.long(), kept.index_select(0, order)
    owner, column, row = owner.index_select(0, kept), column.index_select(0, kept), row.index_select(0, kept)
    entries = table.index_select(0, owner).unbind(1)  # 9 columns (E,): one stack in the backward, not 9 copies
    alpha = _alpha(entries, column, row)
    # prod_{j<i} (1 - alpha_j) within each pixel's run: a cumulative sum of log(1 - alpha) (float64, so
    # the sum over the whole image keeps every digit), minus the sum before the run starts.
    log_keep = torch.log1p(-alpha).double()
    running = log_keep.cumsum(0)
    per_pixel = torch.bincount(pixel, minlength=size * size)
    run_end = per_pixel.cumsum(0)
    running_from_zero = torch.cat([running.new_zeros(1), running])
    before_run = running_from_zero.index_select(0, run_end - per_pixel)
    transmittance = (running - log_keep - before_run.index_select(0, pixel)).exp().to(alpha.dtype)
    weights = alpha * transmittance
    image = torch.zeros(size * size, 3, device=device, dtype=alpha.dtype).index_add(
        0, pixel, weights[:, None] * torch.stack(entries[6:9], dim=1)
    )
    total = running_from_zero.index_select(0, run_end) - before_run
    coverage = (1 - total.exp()).to(alpha.dtype)
    image, coverage = image.reshape(size, size, 3), coverage.reshape(size, size)
    if background is not None:
        image = image + (1 - coverage[..., None]) * background.to(image)
    return image, coverage


def _alpha(entries: tuple[torch.Tensor, ...], column: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """alpha (E,) at the centre of pixel (``row``, ``column``), each (E,), of the Gaussians whose
    columns of :func:`render_gaussians`' table (centre x, y, conic a, b, c, opacity, ...) are ``entries``."""
    centre_x, centre_y, a, b, c, opacity = entries[:6]
    dx = column.to(centre_x.dtype) + 0.5 - centre_x
    dy = row.to(centre_y.dtype) + 0.5 - centre_y
    power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
    return (opacity * power.clamp(max=0).exp()).clamp(max=MAX_ALPHA)
