"""Volume rendering along camera rays (PanoHead Eq. 1-2): stratified + importance samples.

Per ray, densities and colour features at sorted depths t_i are composited with
    alpha_i = 1 - exp(-sigma_i * delta_i),   T_i = prod_{j<i} (1 - alpha_j),   w_i = T_i * alpha_i
    I_r = sum_i w_i c_i,   I_m = sum_i w_i,   depth = sum_i w_i t_i / I_m
evaluated, as in the official renderer, at the mid-points between consecutive samples with the
density activation softplus(sigma - 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# field(points (B, M, 3)) -> density logits (B, M, 1), colour features (B, M, C)
Field = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
EMPTY_LOGIT = -1e3  # the density logit of "no density" (softplus(-1e3 - 1) is 0 in float32)


@dataclass(frozen=True)
class RaySettings:
    ray_start: float
    ray_end: float
    samples_coarse: int
    samples_fine: int
    box_warp: float = 1.0
    crop_margin: float = 0.1
    jitter: bool = False  # random offsets within strata (training); False gives deterministic images


@dataclass
class RayResult:
    features: torch.Tensor  # (B, R, C) composited colour features, I_r
    depth: torch.Tensor  # (B, R, 1)
    mask: torch.Tensor  # (B, R, 1) accumulated weight, I_m
    weights: torch.Tensor  # (B, R, S - 1) per-interval weights w_i
    depths: torch.Tensor  # (B, R, S) sorted sample depths


def interval_weights(densities: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """Eq. 1-2 weights w_i (B, R, S-1) of the intervals between sorted samples (B, R, S, 1)."""
    deltas = (depths[:, :, 1:] - depths[:, :, :-1])[..., 0]
    density_mid = F.softplus(0.5 * (densities[:, :, 1:] + densities[:, :, :-1])[..., 0] - 1.0)
    optical_depth = density_mid * deltas
    alpha = 1.0 - torch.exp(-optical_depth)
    # Transmittance before each interval, prod_j<i (1 - alpha_j) = exp(-sum_j<i sigma_j delta_j). A sum
    # rather than torch.cumprod because cumprod's backward asks the host whether any factor is zero
    # (a device sync), which makes the inversion step impossible to capture in a CUDA graph.
    transmittance = torch.exp(-F.pad(torch.cumsum(optical_depth, dim=2)[:, :, :-1], (1, 0)))
    return alpha * transmittance


def composite(
    colours: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 1-2 on sorted samples: colours (B, R, S, C), densities (B, R, S, 1), depths (B, R, S, 1).

    Returns composited colour (B, R, C), depth (B, R, 1) and interval weights (B, R, S-1).
    Each interval's colour is the mean of its two end samples, so sum_i w_i (c_i + c_{i+1}) / 2 is
    computed as one weighted sum over samples with per-sample weights (w_{i-1} + w_i) / 2: no
    (B, R, S-1, C) mid-point tensor is built.
    """
    weights = interval_weights(densities, depths)
    sample_weights = 0.5 * (F.pad(weights, (1, 0)) + F.pad(weights, (0, 1)))
    colour = torch.matmul(sample_weights.unsqueeze(-2), colours).squeeze(-2)
    depth_mid = 0.5 * (depths[:, :, 1:] + depths[:, :, :-1])[..., 0]
    total = weights.sum(dim=2, keepdim=True)
    depth = torch.nan_to_num((weights * depth_mid).sum(dim=2, keepdim=True) / total, float("inf"))
    depth = depth.clamp(depths.min(), depths.max())
    return colour, depth, weights


def stratified_depths(
    batch: int,
    rays: int,
    settings: RaySettings,
    device,
    generator: torch.Generator | None = None,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, R, S, 1) evenly spaced depths in [ray_start, ray_end] (+ ``shift`` (B,) per camera), jittered
    within a stratum when asked."""
    count = settings.samples_coarse
    depths = (
        torch.linspace(settings.ray_start, settings.ray_end, count, device=device)
        .reshape(1, 1, count, 1)
        .repeat(batch, rays, 1, 1)
    )
    if shift is not None:
        depths = depths + shift.to(depths.dtype).reshape(batch, 1, 1, 1)
    if settings.jitter:
        step = (settings.ray_end - settings.ray_start) / (count - 1)
        depths = depths + torch.rand(depths.shape, device=device, generator=generator) * step
    return depths


def importance_depths(
    depths: torch.Tensor, weights: torch.Tensor, count: int, jitter: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw ``count`` depths per ray from the coarse weights (inverse-CDF sampling, as in NeRF).

    The weights are first smoothed (max over neighbours, then a 2-tap mean) plus a floor of 0.01 so
    no interval is starved; deterministic quantiles are used unless ``jitter``.
    """
    batch, rays, samples, _ = depths.shape
    flat_depths = depths.reshape(batch * rays, samples)
    w = weights.reshape(batch * rays, 1, -1).float()
    w = F.avg_pool1d(F.max_pool1d(w, 2, 1, padding=1), 2, 1).squeeze(1) + 0.01
    edges = (0.5 * (flat_depths[:, 1:] + flat_depths[:, :-1]))[:, :-1]  # (N, S - 2)
    pdf_weights = w[:, 1:-1] + 1e-5  # (N, S - 3): one weight per interval between edges
    cdf = torch.cumsum(pdf_weights / pdf_weights.sum(dim=-1, keepdim=True), dim=-1)
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], dim=-1)  # (N, S - 2)
    if jitter:
        u = torch.rand(cdf.shape[0], count, device=depths.device, generator=generator)
    else:
        u = torch.linspace(0.0, 1.0, count, device=depths.device).expand(cdf.shape[0], count)
    u = u.contiguous()
    upper = torch.searchsorted(cdf, u, right=True)
    lower = (upper - 1).clamp_min(0)
    upper = upper.clamp_max(cdf.shape[1] - 1)
    cdf_lo, cdf_hi = cdf.gather(1, lower), cdf.gather(1, upper)
    edge_lo, edge_hi = edges.gather(1, lower), edges.gather(1, upper)
    span = cdf_hi - cdf_lo
    span = torch.where(span < 1e-5, torch.ones_like(span), span)
    samples_fine = edge_lo + (u - cdf_lo) / span * (edge_hi - edge_lo)
    return samples_fine.reshape(batch, rays, count, 1).detach()


def inside_crop(points: torch.Tensor, settings: RaySettings) -> torch.Tensor | None:
    """(B, M, 1) bool: whether points (B, M, 3) lie within the horizontal extent of the tri-grid box
    that keeps its density (the official renderer's crop); None when nothing is cropped."""
    if settings.crop_margin is None or settings.crop_margin <= 0:
        return None
    half = settings.box_warp / 2 - settings.crop_margin
    return (points[..., 0:3:2].abs() <= half).all(dim=-1, keepdim=True)  # x and z, by slicing (graph capture)


def crop_outside_box(points: torch.Tensor, densities: torch.Tensor, settings: RaySettings) -> torch.Tensor:
    """Remove density outside the horizontal extent of the tri-grid box (the official renderer's crop)."""
    inside = inside_crop(points, settings)
    return densities if inside is None else torch.where(inside, densities, torch.full_like(densities, EMPTY_LOGIT))


def cropped_field(field: Field, points: torch.Tensor, settings: RaySettings) -> tuple[torch.Tensor, torch.Tensor]:
    """``field`` at points (B, M, 3) -> density logits (B, M, 1), colour features (B, M, C), the density
    outside the crop removed (:func:`crop_outside_box`).

    Rendering on the CPU without gradients, where the cost is per evaluated point, the points outside
    the crop (about a quarter of a head's samples) are not evaluated: they get the "no density" logit
    and zero colour. The images are the same: compositing uses the density at the mid-point of two
    samples, softplus of the mean of their logits, which underflows to exactly 0 in float32 next to the
    logit -1e3 (for any neighbour below about 790), so both intervals of a cropped sample weigh exactly
    0 and its colour never counts. Each row evaluates as many points as the row with the most inside
    the crop (the first ones of that row outside it fill the rest), so the field still sees one dense
    batch. Elsewhere every point is evaluated: a GPU gains little from it, a CUDA graph cannot capture
    the data-dependent count, and training (jittered rays, also in its no-gradient passes such as the
    discriminator's fakes) keeps its random streams, gradients and sync-free steps as they were.
    """
    inside = inside_crop(points, settings)
    if inside is None or points.device.type != "cpu" or torch.is_grad_enabled() or settings.jitter:
        density, colour = field(points)
        return crop_outside_box(points, density, settings), colour
    batch, count, _ = points.shape
    keep = int(inside.sum(dim=1).max())
    if keep == count:
        density, colour = field(points)
        return crop_outside_box(points, density, settings), colour
    # Inside points first, each row in its original order (a stable sort of "outside").
    chosen = torch.sort(~inside[..., 0], dim=1, stable=True).indices[:, :keep, None]  # (B, keep, 1)
    density, colour = field(points.gather(1, chosen.expand(-1, -1, 3)))
    full_density = density.new_full((batch, count, 1), EMPTY_LOGIT).scatter_(1, chosen, density)
    full_colour = colour.new_zeros(batch, count, colour.shape[-1]).scatter_(
        1, chosen.expand(-1, -1, colour.shape[-1]), colour
    )
    return crop_outside_box(points, full_density, settings), full_colour


def render_rays(
    field: Field,
    origins: torch.Tensor,
    directions: torch.Tensor,
    settings: RaySettings,
    generator: torch.Generator | None = None,
    shift: torch.Tensor | None = None,
) -> RayResult:
    """Render rays (B, R, 3) through ``field``: a coarse pass, importance samples, then all samples sorted.

    ``shift`` (B,) moves each camera's ray bounds (see :meth:`PanoHeadGenerator.depth_shift`)."""
    batch, rays, _ = origins.shape

    def evaluate(depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = depths.shape[2]
        points = (origins[:, :, None] + depths * directions[:, :, None]).reshape(batch, rays * count, 3)
        density, colour = cropped_field(field, points, settings)
        return density.reshape(batch, rays, count, 1), colour.reshape(batch, rays, count, -1)

    depths = stratified_depths(batch, rays, settings, origins.device, generator, shift)
    density, colour = evaluate(depths)
    if settings.samples_fine > 0:
        coarse_weights = interval_weights(density, depths)
        depths_fine = importance_depths(depths, coarse_weights, settings.samples_fine, settings.jitter, generator)
        density_fine, colour_fine = evaluate(depths_fine)
        depths = torch.cat([depths, depths_fine], dim=2)
        order = depths.argsort(dim=2)
        depths = depths.gather(2, order)
        density = torch.cat([density, density_fine], dim=2).gather(2, order)
        colour = torch.cat([colour, colour_fine], dim=2)
        colour = colour.gather(2, order.expand(-1, -1, -1, colour.shape[-1]))
    features, depth, weights = composite(colour, density, depths)
    return RayResult(
        features=features, depth=depth, mask=weights.sum(dim=2, keepdim=True), weights=weights, depths=depths[..., 0]
    )
