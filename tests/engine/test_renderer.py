import math

import torch
import torch.nn.functional as F

from panohead.rendering.volume import RaySettings, composite, render_rays


def inverse_density_activation(sigma: float) -> float:
    """The raw value whose softplus(raw - 1) equals ``sigma``."""
    return 1.0 + math.log(math.expm1(sigma))


def slab_field(sigma: float, near: float, far: float):
    raw_inside, raw_outside = inverse_density_activation(sigma), -30.0

    def field(points: torch.Tensor):
        z = points[..., 2:3]
        inside = (z >= near) & (z <= far)
        density = torch.where(inside, torch.full_like(z, raw_inside), torch.full_like(z, raw_outside))
        colour = torch.cat([torch.ones_like(z), z], dim=-1)
        return density, colour

    return field


def test_constant_density_slab_matches_closed_form_transmittance():
    sigma, near, far = 3.0, 0.4, 0.7  # slab along the ray (ray runs along +z from z = 0)
    settings = RaySettings(
        ray_start=0.0, ray_end=1.0, samples_coarse=192, samples_fine=192, crop_margin=0.0, box_warp=4.0
    )
    origins = torch.zeros(1, 4, 3)
    directions = torch.tensor([0.0, 0.0, 1.0]).expand(1, 4, 3).contiguous()
    result = render_rays(slab_field(sigma, near, far), origins, directions, settings)
    expected_mask = 1 - math.exp(-sigma * (far - near))
    assert abs(result.mask[0, 0, 0].item() - expected_mask) / expected_mask < 0.01
    # The first colour channel is 1 everywhere, so the composited value equals the mask.
    assert torch.allclose(result.features[..., 0], result.mask[..., 0], atol=1e-6)
    # Expected depth of a homogeneous slab: near + 1/sigma - L e^{-sigma L} / (1 - e^{-sigma L}).
    length = far - near
    expected_depth = near + 1 / sigma - length * math.exp(-sigma * length) / (1 - math.exp(-sigma * length))
    assert abs(result.depth[0, 0, 0].item() - expected_depth) < 0.01


def test_transmittance_before_the_slab_is_one_and_decays_exponentially_inside():
    sigma = 2.0
    depths = torch.linspace(0.0, 1.0, 401).reshape(1, 1, -1, 1)
    densities = torch.full_like(depths, inverse_density_activation(sigma))
    colours = torch.ones_like(depths)
    _, _, weights = composite(colours, densities, depths)
    cumulative = weights[0, 0].cumsum(0)
    halfway = 200  # depth 0.5
    assert abs(cumulative[halfway - 1].item() - (1 - math.exp(-sigma * 0.5))) < 1e-3


def test_empty_space_renders_an_empty_mask():
    settings = RaySettings(0.0, 1.0, 16, 16, crop_margin=0.0, box_warp=4.0)
    field = lambda points: (torch.full_like(points[..., :1], -50.0), torch.ones_like(points[..., :2]))  # noqa: E731
    result = render_rays(field, torch.zeros(1, 3, 3), F.normalize(torch.ones(1, 3, 3), dim=-1), settings)
    assert result.mask.abs().max() < 1e-6


def test_importance_samples_concentrate_where_the_density_is():
    settings = RaySettings(0.0, 1.0, 32, 64, crop_margin=0.0, box_warp=4.0)
    origins = torch.zeros(1, 1, 3)
    directions = torch.tensor([[[0.0, 0.0, 1.0]]])
    result = render_rays(slab_field(20.0, 0.6, 0.65), origins, directions, settings)
    depths = result.depths[0, 0]
    fine_fraction_in_slab = ((depths > 0.55) & (depths < 0.7)).float().sum() / depths.numel()
    assert fine_fraction_in_slab > 0.3  # 0.15 of the ray holds > 30% of all samples


def test_crop_removes_density_outside_the_box_sides():
    settings = RaySettings(0.0, 1.0, 16, 0, crop_margin=0.1, box_warp=1.0)
    dense = lambda points: (torch.full_like(points[..., :1], 10.0), torch.ones_like(points[..., :1]))  # noqa: E731
    outside = torch.tensor([[[0.45, 0.0, 0.0]]])  # |x| = 0.45 > 0.5 - 0.1
    inside = torch.tensor([[[0.2, 0.0, 0.0]]])
    direction = torch.tensor([[[0.0, 1.0, 0.0]]])
    assert render_rays(dense, outside, direction, settings).mask.item() < 1e-6
    assert render_rays(dense, inside, direction, settings).mask.item() > 0.99


def test_points_outside_the_crop_are_not_evaluated_on_the_cpu_and_the_images_stay_the_same():
    """Rays that cross the box side: without gradients only the samples inside the crop reach the field,
    and every output is the same bit for bit as when all of them are evaluated (gradients on)."""
    torch.manual_seed(3)
    settings = RaySettings(2.0, 3.4, 24, 24, crop_margin=0.1, box_warp=1.0)
    grid = torch.randn(1, 5, 6, 6, 6)
    evaluated = []

    def field(points: torch.Tensor):
        evaluated.append(points.shape[1])
        values = F.grid_sample(
            grid.expand(points.shape[0], -1, -1, -1, -1), points[:, None, None] * 2.0, align_corners=False
        )
        values = values.reshape(points.shape[0], 5, -1).transpose(1, 2)
        return values[..., :1] * 4.0 + 4.0, values[..., 1:]  # dense enough for real weights next to the crop

    origins = torch.tensor([[[0.3, 0.1, 2.7], [-0.2, 0.0, 2.7], [0.0, -0.2, 2.7]]]).expand(2, -1, -1).clone()
    directions = F.normalize(torch.tensor([[[0.04, 0.0, -1.0], [-0.05, 0.02, -1.0], [0.02, 0.0, -1.0]]]), dim=-1)
    directions = directions.expand(2, -1, -1).clone()
    origins[1] *= torch.tensor([1.0, 1.0, 1.1])  # the two rows keep different counts of points
    with torch.no_grad():
        skipped = render_rays(field, origins, directions, settings)
    fewer, evaluated = evaluated, []
    with torch.enable_grad():
        full = render_rays(field, origins, directions, settings)
    assert evaluated == [3 * 24, 3 * 24] and all(count < 3 * 24 for count in fewer)
    assert full.mask.max() > 0.5  # the rays do see density
    for name in ("features", "depth", "mask", "weights", "depths"):
        assert torch.equal(getattr(skipped, name), getattr(full, name)), name
