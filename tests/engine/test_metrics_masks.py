import pytest
import torch
from metrics_scenes import mirrored_triplane

from panohead.metrics.masks import mask_error, segmentation_mse
from panohead.metrics.views import render_views
from panohead.views.camera import orbit_camera


def ball_dataset(generator, yaws, size=48):
    """Items whose ground-truth masks are the planted ball's own silhouettes, resized to ``size``."""
    cameras = orbit_camera(torch.tensor(yaws), 0.0, generator)
    out = render_views(generator, torch.zeros(len(yaws), generator.config.z_dim), cameras, cameras[:, None])
    masks = torch.nn.functional.interpolate(
        out["mask_raw"].clamp(0, 1), size=(size, size), mode="bilinear", align_corners=False
    )
    return [
        {"image": torch.zeros(3, size, size), "mask": m, "label": c, "name": f"ball{i}.png"}
        for i, (m, c) in enumerate(zip(masks, cameras, strict=True))
    ]


def test_masks_equal_to_the_generated_silhouettes_have_no_error():
    generator = mirrored_triplane()
    assert mask_error(generator, ball_dataset(generator, [0.0, 90.0, 180.0]), batch_size=2) < 1e-3


def test_empty_ground_truth_masks_cost_the_head_area():
    generator = mirrored_triplane()
    dataset = ball_dataset(generator, [0.0, 135.0])
    area = float(torch.stack([item["mask"] for item in dataset]).pow(2).mean())
    for item in dataset:
        item["mask"] = torch.zeros_like(item["mask"])
    assert mask_error(generator, dataset) == pytest.approx(area, rel=0.02)
    assert area > 0.1


def test_num_samples_limits_the_items_used_and_a_missing_mask_is_named(tiny_generator):
    generator = tiny_generator
    dataset = ball_dataset(mirrored_triplane(), [0.0, 45.0, 90.0])
    assert 0.0 <= mask_error(generator, dataset, num_samples=1, seed=3) <= 1.0
    dataset[1]["mask"] = None
    with pytest.raises(ValueError, match="ball1.png"):
        mask_error(generator, dataset, batch_size=1)


def test_segmentation_mse_is_zero_when_the_segmenter_agrees_with_the_rendered_mask():
    generator = mirrored_triplane()
    cameras = orbit_camera(torch.tensor([0.0, 180.0]), 0.0, generator)
    silhouette = render_views(
        generator, torch.zeros(2, generator.config.z_dim), cameras, cameras[:, None], superresolve=True
    )["mask"]
    assert segmentation_mse(generator, lambda image: silhouette.clamp(0, 1), cameras) < 1e-3
    assert segmentation_mse(generator, lambda image: torch.zeros_like(image[:, :1]), cameras) > 0.1
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        segmentation_mse(generator, lambda image: image[:, :1] * 5, cameras)
