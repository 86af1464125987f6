"""Ray bounds follow the camera: a head is rendered whole at every zoom the viewer and the CLI allow.

The official bounds (2.25, 3.3) bracket the head only for a camera 2.7 from it; before they followed
the camera, zooming to radius 2.0 rendered background only and 3.47 cut the back of the head.
"""

from __future__ import annotations

import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from export_models import tiny_generator_with_surface

from panohead.camera import RADIUS_RANGE, pixel_rays
from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.views.camera import orbit_camera
from tests.conftest import make_tiny_generator

SPHERE = 0.3  # radius of the analytic head, centred in the tri-grid box (inside the renderer's crop)
DENSITY = 2.5  # softplus(sigma - 1) inside it: a chord of length L is 1 - exp(-2.5 L) opaque
RES = 32
RADII = (RADIUS_RANGE[0], 1.6, 2.0, 2.7, 4.0, 6.0)


@pytest.fixture(scope="module")
def sphere_scene():
    """A tiny generator (128 evenly spaced samples per ray, no importance samples) and a sphere field."""
    G = make_tiny_generator(samples_coarse=128, samples_fine=0)
    ws = G.mapping(torch.randn(1, G.config.z_dim), orbit_camera(0.0))
    planes = G.synthesize_planes(ws)
    colours = G.field(planes)
    inside_sigma = 1.0 + math.log(math.expm1(DENSITY))

    def field(points: torch.Tensor):
        _, colour = colours(points)
        inside = points.norm(dim=-1, keepdim=True) <= SPHERE
        return torch.where(inside, torch.full_like(inside, inside_sigma, dtype=colour.dtype), -1e3), colour

    return G, planes, ws, field


def expected_opacity(label: torch.Tensor) -> torch.Tensor:
    """(RES, RES) closed form 1 - exp(-DENSITY * chord) of each pixel ray through the sphere."""
    origins, directions = pixel_rays(label, RES)
    closest = -(origins * directions).sum(-1, keepdim=True)  # depth of the ray's closest approach to the centre
    miss = (origins + closest * directions).pow(2).sum(-1)
    chord = 2 * (SPHERE**2 - miss).clamp_min(0).sqrt()
    return (1 - torch.exp(-DENSITY * chord)).reshape(RES, RES)


@pytest.mark.parametrize("radius", RADII)
def test_the_whole_sphere_is_rendered_at_every_zoom(sphere_scene, radius):
    G, planes, ws, field = sphere_scene
    label = orbit_camera(115.0, 23.0, radius=radius, look_at=(0.0, 0.0, 0.0))
    with torch.no_grad():
        mask = G.render(planes, ws, label, neural_resolution=RES, superresolve=False, field=field)["weight_sum"][0, 0]
    expected = expected_opacity(label)
    # The silhouette: a disc covering pi (f tan(asin(r / d)))^2 of the frame, clipped by the frame when close.
    covered = (mask > 0.02).float().mean().item()
    assert covered > 0.1 and covered == pytest.approx((expected > 0).float().mean().item(), abs=1 / RES)
    # Opacity follows the whole chord through the sphere: ray bounds cutting its near or far part show here.
    assert mask.mean().item() == pytest.approx(expected.mean().item(), rel=0.03)
    assert (mask - expected).abs().max().item() < 0.05


def test_orbit_cameras_at_the_models_radius_keep_the_official_bounds_exactly():
    G = make_tiny_generator()
    yaws, pitches = torch.linspace(-180.0, 180.0, 37), torch.linspace(-80.0, 80.0, 37)
    assert torch.equal(G.depth_shift(orbit_camera(yaws, pitches, G)), torch.zeros(37))
    shift = G.depth_shift(orbit_camera(yaws, pitches, G, radius=2.0))
    assert torch.allclose(shift, torch.full((37,), 2.0 - G.config.camera_radius), atol=1e-5)


def test_self_adapted_cameras_keep_the_bounds_of_the_requested_camera(monkeypatch):
    """Official renders move the camera by the learned offset but keep their fixed bounds."""
    import panohead.generator as generator_module

    G = make_tiny_generator()
    monkeypatch.setattr(G, "camera_offset", lambda z, c, *args: torch.tensor([[0.0, 0.0, 0.5]]))
    shifts = []
    real_render_rays = generator_module.render_rays

    def spy(*args):
        shifts.append(args[-1])
        return real_render_rays(*args)

    monkeypatch.setattr(generator_module, "render_rays", spy)
    with torch.no_grad():
        out = G(torch.randn(1, G.config.z_dim), orbit_camera(17.0), adapt_camera=True)
    assert G.depth_shift(out["camera"]).item() == pytest.approx(0.5, abs=0.05)
    assert shifts and all(torch.equal(shift, torch.zeros(1)) for shift in shifts)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(path, tiny_generator_with_surface())
    return str(path)


def test_video_radius_zooms_without_losing_the_head(checkpoint, tmp_path):
    coverage = {}
    for radius in (1.6, 2.0, 2.7, 6.0):
        folder = tmp_path / str(radius)
        result = CliRunner().invoke(
            main,
            [
                "video",
                "-c",
                checkpoint,
                "--frames",
                "1",
                "--view",
                "mask",
                "--format",
                "gif",
                "--radius",
                str(radius),
                "--device",
                "cpu",
                "-o",
                str(folder),
            ],
        )
        assert result.exit_code == 0, result.output
        coverage[radius] = (np.asarray(imageio.mimread(folder / "turntable_seed0.gif")[0])[..., 0] > 127).mean()
    assert coverage[6.0] > 0.02
    assert coverage[1.6] >= coverage[2.0] >= coverage[2.7] > coverage[6.0]


def test_video_refuses_a_radius_the_viewer_does_not_offer(tmp_path):
    result = CliRunner().invoke(main, ["video", "--radius", "0.5", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "0.5 is not in the range 1.0<=x<=6.0" in result.output
