import math

import numpy as np
import torch
from metrics_scenes import RandomFeatures, smooth_pattern

from panohead.camera import label_to_orbit
from panohead.metrics.distribution import distribution_metrics, in_split, real_features, split_cameras
from panohead.metrics.statistics import fit_gaussian, frechet_distance
from panohead.views.camera import orbit_camera


def image_set(count: int = 64, noise: float = 0.0, size: int = 32) -> list[dict]:
    items = []
    for i in range(count):
        image = smooth_pattern(i, 3, size, 4).tanh()
        if noise:
            image = (image + noise * torch.randn(image.shape, generator=torch.Generator().manual_seed(1000 + i))).clamp(
                -1, 1
            )
        yaw = -180.0 + 360.0 * i / count
        items.append({"image": image, "mask": None, "label": orbit_camera(yaw)[0], "name": f"{i}.png"})
    return items


def fid_between(a: list[dict], b: list[dict]) -> float:
    extractor = RandomFeatures()
    features = [real_features(items, extractor, torch.device("cpu"), batch_size=16)[0].features for items in (a, b)]
    return frechet_distance(fit_gaussian(features[0]), fit_gaussian(features[1]))


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    clean = image_set()
    itself = fid_between(clean, clean)
    slightly, heavily = fid_between(clean, image_set(noise=0.1)), fid_between(clean, image_set(noise=0.4))
    assert itself <= 1e-6 * slightly
    assert 0 < slightly < heavily / 10


def test_splits_follow_the_yaw_with_wrap_around():
    yaw = np.array([0.0, 89.9, 90.0, -90.0, 180.0, 270.0, -300.0])
    assert in_split(yaw, "front").tolist() == [True, True, False, False, False, False, True]
    assert in_split(yaw, "back").tolist() == [False, False, True, True, True, True, False]


def test_fid_back_conditions_on_the_frontal_camera_and_renders_back_views(tiny_generator):
    condition, render = split_cameras(tiny_generator, "back", 16, seed=0, pool=None)
    assert torch.allclose(condition, orbit_camera(0.0, 0.0, tiny_generator).expand(16, -1))
    assert (torch.rad2deg(label_to_orbit(render).yaw).abs() >= 90.0 - 1e-4).all()
    condition, render = split_cameras(tiny_generator, "front", 16, seed=0, pool=None)
    assert torch.equal(condition, render)
    assert (torch.rad2deg(label_to_orbit(render).yaw).abs() < 90.0).all()


def test_protocol_reports_every_split_and_says_what_it_skipped(tiny_generator):
    dataset = [item for item in image_set(24) if abs(label_to_orbit(item["label"][None]).yaw.item()) < math.pi / 2]
    results, notes = distribution_metrics(
        tiny_generator, RandomFeatures(), dataset, num_samples=12, batch_size=6, kid_subsets=3, is_splits=2
    )
    for key in ("fid_all", "fid_front", "kid_all", "kid_front", "is_all", "is_front", "is_back", "is_back_std"):
        assert math.isfinite(results[key]), key
    assert results["real_back"] == 0 and "fid_back" not in results
    assert notes == ["fid/kid back: the dataset has 0 back image(s); need 2"]
    assert results["is_all"] >= 1.0 - 1e-9
