"""Gaussian splats: seeded on a surface, a fit that lowers the loss, and the standard 3DGS .ply that reloads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from export_models import RADIUS, SphereField, sphere_view, sphere_views

from panohead.export.gaussians import SH_C0, render_gaussians, rotation_matrices
from panohead.export.mesh import extract_mesh
from panohead.export.splat import (
    PLY_PROPERTIES,
    SplatSettings,
    fit_gaussians,
    load_splat,
    save_splat,
    surface_gaussians,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def sphere_gaussians():
    return surface_gaussians(extract_mesh(SphereField(RADIUS), 32), 600, SphereField(RADIUS))


def test_surface_gaussians_lie_on_the_surface_as_discs_facing_out(sphere_gaussians):
    radius = sphere_gaussians.means.norm(dim=-1)
    assert (radius - RADIUS).abs().max() < 0.01
    disc_axis = rotation_matrices(sphere_gaussians.quats)[:, :, 2]  # the thin axis
    outward = sphere_gaussians.means / radius[:, None]
    assert (disc_axis * outward).sum(-1).min() > 0.95
    colour = 0.5 + SH_C0 * sphere_gaussians.sh[:, 0]
    assert torch.allclose(colour, sphere_gaussians.means + 0.5, atol=1e-5)


class GreyField(SphereField):
    """The sphere with a wrong colour everywhere: what the views show must win where they see."""

    def colour(self, points: torch.Tensor) -> torch.Tensor:
        return torch.full_like(points, 0.5)


def test_surface_gaussians_take_their_colours_from_the_views_that_see_them():
    gaussians = surface_gaussians(extract_mesh(SphereField(RADIUS), 32), 600, GreyField(RADIUS), views=sphere_views())
    colour = 0.5 + SH_C0 * gaussians.sh[:, 0]
    error = (colour - (gaussians.means + 0.5)).abs()  # the views show the colour position + 0.5
    assert float(error.mean()) < 0.02 and float(error.quantile(0.99)) < 0.08


def test_the_learning_rates_fall_from_the_boost_to_the_final_fraction(sphere_gaussians, monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def record(optimiser, *args, **kwargs):
        seen.append([group["lr"] for group in optimiser.param_groups])
        return step(optimiser, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    views = [sphere_view(view.label, 16) for view in sphere_views()[:2]]
    settings = SplatSettings(count=len(sphere_gaussians), steps=5, lr_boost=2.0, lr_final=0.1)
    fit_gaussians(sphere_gaussians, views, settings)
    base = np.array([settings.lr_means, settings.lr_scales, settings.lr_quats, settings.lr_opacity, settings.lr_sh])
    np.testing.assert_allclose(seen[0], 2.0 * base, rtol=1e-6)
    np.testing.assert_allclose(seen[-1], 0.2 * base, rtol=1e-6)
    np.testing.assert_allclose(seen[2], 2.0 * np.sqrt(0.1) * base, rtol=1e-6)  # exponential: halfway, the mean


def test_a_short_fit_lowers_the_loss(sphere_gaussians):
    views = [sphere_view(view.label, 32) for view in sphere_views()[::4]]
    start = sphere_gaussians.subset(torch.arange(0, len(sphere_gaussians), 2))
    start.sh[:, 0] = 0.0  # grey: the fit has to find the colours
    constant = SplatSettings(count=len(start), steps=40, lr_boost=1.0, lr_final=1.0)  # the schedule: test above
    fitted, losses = fit_gaussians(start, views, constant)
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])

    def error(gaussians):
        return sum(float((render_gaussians(gaussians, v.label, 32)[0] - v.image).abs().mean()) for v in views)

    assert error(fitted) < 0.8 * error(start)


def test_splat_ply_has_the_standard_properties_and_reloads(sphere_gaussians, tmp_path):
    save_splat(sphere_gaussians, tmp_path / "ball.ply")
    data = (tmp_path / "ball.ply").read_bytes()
    header = data[: data.index(b"end_header\n")].decode().splitlines()
    assert header[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 600"]
    names = [line.split()[2] for line in header if line.startswith("property float")]
    assert names == (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(45)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )
    assert names == PLY_PROPERTIES
    assert len(data) - data.index(b"end_header\n") - len(b"end_header\n") == 600 * 62 * 4
    reloaded = load_splat(tmp_path / "ball.ply")
    for name, value in sphere_gaussians.parameters().items():
        assert torch.allclose(
            reloaded.parameters()[name],
            value if name != "quats" else torch.nn.functional.normalize(value, dim=-1),
            atol=1e-6,
        ), name
    cloud = trimesh.load(tmp_path / "ball.ply")  # a third-party reader sees 600 points
    assert len(cloud.vertices) == 600


def test_degree_one_colour_goes_to_the_channel_major_rest_slots(sphere_gaussians, tmp_path):
    gaussians = sphere_gaussians.subset(torch.arange(2))
    gaussians.sh[:, 1:] = torch.arange(9, dtype=torch.float32).reshape(1, 3, 3)  # [band - 1, channel]
    save_splat(gaussians, tmp_path / "two.ply")
    data = (tmp_path / "two.ply").read_bytes()
    rows = np.frombuffer(data[data.index(b"end_header\n") + 11 :], dtype="<f4").reshape(2, 62)
    rest = rows[0, 9:54].reshape(3, 15)  # channel, coefficient
    assert rest[:, :3].tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]] and not rest[:, 3:].any()


def test_loading_a_file_that_is_not_a_splat_names_it(tmp_path):
    trimesh.creation.box().export(tmp_path / "box.ply", encoding="binary")
    with pytest.raises(ValueError, match="box.ply: not a 3DGS splat file"):
        load_splat(tmp_path / "box.ply")
