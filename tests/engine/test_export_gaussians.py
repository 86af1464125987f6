"""The reference Gaussian rasteriser: closed forms for single Gaussians, depth order, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from panohead.export.gaussians import BLUR, SH_BANDS, SH_C0, Gaussians, render_gaussians
from panohead.views.camera import orbit_camera

DISTANCE = 2.7
FOCAL = 4.2647
SIZE = 64

pytestmark = pytest.mark.usefixtures("single_thread")


def one_gaussian(
    mean=(0.0, 0.0, 0.0), scales=(0.05, 0.05, 0.05), quat=(1.0, 0.0, 0.0, 0.0), opacity=0.8, rgb=(0.9, 0.4, 0.1)
) -> Gaussians:
    sh = torch.zeros(1, SH_BANDS, 3)
    sh[0, 0] = (torch.tensor(rgb) - 0.5) / SH_C0
    return Gaussians(
        torch.tensor([mean]),
        torch.tensor([scales]).log(),
        torch.tensor([quat]),
        torch.tensor([math.log(opacity / (1 - opacity))]),
        sh,
    )


def closed_form_alpha(opacity: float, sigma_x: float, sigma_y: float, centre=(SIZE / 2, SIZE / 2)) -> torch.Tensor:
    """o exp(-(dx^2 / sx^2 + dy^2 / sy^2) / 2) at pixel centres, (S, S); sigmas in pixels, BLUR added."""
    y, x = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    sx2, sy2 = sigma_x**2 + BLUR, sigma_y**2 + BLUR
    alpha = opacity * torch.exp(-0.5 * ((x - centre[0]) ** 2 / sx2 + (y - centre[1]) ** 2 / sy2))
    return torch.where(alpha >= 1 / 255, alpha, torch.zeros_like(alpha))


def front_camera() -> torch.Tensor:
    return orbit_camera(0.0, radius=DISTANCE, look_at=(0.0, 0.0, 0.0), focal=FOCAL)


def pixels(world: float) -> float:
    """A length at the origin, seen from DISTANCE, in pixels."""
    return FOCAL * SIZE * world / DISTANCE


def test_an_isotropic_gaussian_renders_to_its_closed_form():
    background = torch.tensor([0.2, 0.3, 0.5])
    image, alpha = render_gaussians(one_gaussian(), front_camera(), SIZE, background)
    expected = closed_form_alpha(0.8, pixels(0.05), pixels(0.05))
    assert torch.allclose(alpha, expected, atol=1e-5)
    colour = torch.tensor([0.9, 0.4, 0.1]) * expected[..., None] + background * (1 - expected[..., None])
    assert torch.allclose(image, colour, atol=1e-5)


def test_rotation_quaternion_is_w_first_and_turns_the_ellipse():
    # Long along x, then a quarter turn about the camera axis (z): long along image y.
    quarter = (math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4))
    _, alpha = render_gaussians(one_gaussian(scales=(0.1, 0.03, 0.03), quat=quarter), front_camera(), SIZE)
    assert torch.allclose(alpha, closed_form_alpha(0.8, pixels(0.03), pixels(0.1)), atol=1e-5)


def test_an_offset_gaussian_lands_where_the_camera_projects_it():
    # x right in the world is x right in the image (camera on +z looking at -z, y up); off the axis the
    # footprint is no longer round, but its centroid is the projected mean.
    _, alpha = render_gaussians(one_gaussian(mean=(0.1, 0.05, 0.0)), front_camera(), SIZE)
    y, x = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    centroid = ((alpha * x).sum() / alpha.sum(), (alpha * y).sum() / alpha.sum())
    assert float(centroid[0]) == pytest.approx(SIZE / 2 + pixels(0.1), abs=0.02)
    assert float(centroid[1]) == pytest.approx(SIZE / 2 - pixels(0.05), abs=0.02)


def test_the_nearer_gaussian_covers_the_farther_one_whatever_the_order():
    near = one_gaussian(mean=(0.0, 0.0, 0.5), opacity=0.99, rgb=(1.0, 0.0, 0.0))
    far = one_gaussian(mean=(0.0, 0.0, -0.5), opacity=0.99, rgb=(0.0, 0.0, 1.0))
    for first, second in ((near, far), (far, near)):
        both = Gaussians(**{k: torch.cat([first.parameters()[k], second.parameters()[k]]) for k in first.parameters()})
        image, _ = render_gaussians(both, front_camera(), SIZE)
        assert image[SIZE // 2, SIZE // 2, 0] > 0.95 and image[SIZE // 2, SIZE // 2, 2] < 0.02


def test_gradients_reach_every_parameter():
    gaussians = one_gaussian(mean=(0.02, -0.01, 0.0), quat=(0.9, 0.1, 0.2, 0.3))
    for tensor in gaussians.parameters().values():
        tensor.requires_grad_(True)
    image, alpha = render_gaussians(gaussians, front_camera(), SIZE)
    (image.sum() + alpha.sum()).backward()
    for name, tensor in gaussians.parameters().items():
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, name


@pytest.mark.parametrize("size", [40, 100])
def test_images_that_are_not_a_whole_number_of_tiles_keep_their_size(size):
    image, alpha = render_gaussians(one_gaussian(), front_camera(), size)
    assert image.shape == (size, size, 3) and alpha.shape == (size, size)
    assert float(alpha.max()) == pytest.approx(
        alpha[size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1].max()
    )
