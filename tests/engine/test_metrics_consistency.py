import math

import torch
from metrics_scenes import PlantedHead, mirrored_triplane, smooth_pattern

from panohead.metrics.consistency import View, multiview_consistency, source_coordinates, warp_sums
from panohead.metrics.views import render_views, surface_points
from panohead.views.camera import orbit_camera


def test_projecting_the_surface_points_lands_on_their_own_pixels():
    generator = mirrored_triplane()
    camera = orbit_camera(torch.tensor([30.0]), 10.0, generator)
    out = render_views(generator, torch.zeros(1, generator.config.z_dim), camera, camera)
    coords, distance = source_coordinates(surface_points(camera, out["depth"]), camera)
    n = out["depth"].shape[-1]
    centres = (torch.arange(n) + 0.5) / n
    assert torch.allclose(coords[0, :, :, 0], centres.expand(n, n), atol=1e-4)
    assert torch.allclose(coords[0, :, :, 1], centres[:, None].expand(n, n), atol=1e-4)
    assert torch.allclose(distance, out["depth"], atol=1e-4)


def smooth_ball() -> PlantedHead:
    """The planted ball with colours that vary over a few pixels of the 32x32 neural rendering."""
    return mirrored_triplane(cells=8)


def test_analytic_scene_is_consistent_across_the_whole_orbit():
    generator = smooth_ball()
    scores = multiview_consistency(generator, seeds=[0], yaw_step=45.0)
    out = render_views(
        generator,
        torch.zeros(1, generator.config.z_dim),
        orbit_camera(0.0, 0.0, generator),
        orbit_camera(torch.tensor([0.0]), 0.0, generator),
    )
    colour_spread = float(out["head_rgb"][(out["weight_sum"] > 0.9).expand(-1, 3, -1, -1)].std())
    assert scores["error"] < 0.06 * colour_spread
    assert scores["psnr"] > 30
    assert scores["coverage"] > 0.7


def test_colours_that_change_between_views_are_caught():
    generator = smooth_ball()
    cameras = orbit_camera(torch.tensor([0.0, 30.0]), 0.0, generator)
    out = render_views(generator, torch.zeros(1, generator.config.z_dim), cameras[:1], cameras)

    def view(k: int, rgb: torch.Tensor) -> View:
        return View(rgb[k : k + 1], out["weight_sum"][k : k + 1], out["depth"][k : k + 1], out["cameras"][k : k + 1])

    same = warp_sums(view(0, out["head_rgb"]), view(1, out["head_rgb"])).summary()
    other_rgb = render_views(
        PlantedHead(torch.zeros(1, 3, 4, 1, 64, 64) + smooth_pattern(9, 4, 64, 8)[None, None, :, None]),
        torch.zeros(1, generator.config.z_dim),
        cameras[:1],
        cameras,
    )["head_rgb"]
    repainted = warp_sums(view(0, other_rgb), view(1, out["head_rgb"])).summary()
    assert repainted["error"] > 10 * same["error"]
    assert math.isclose(repainted["coverage"], same["coverage"])


def test_random_generator_gives_finite_scores(tiny_generator):
    scores = multiview_consistency(tiny_generator, seeds=[0, 1], yaw_step=90.0, batch_size=1)
    assert set(scores) == {"error", "psnr", "coverage"}
    assert 0.0 <= scores["coverage"] <= 1.0
