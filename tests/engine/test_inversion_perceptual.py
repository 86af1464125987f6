"""Perceptual distances: LPIPS from local weight files only, and the documented offline fallback."""

from __future__ import annotations

import logging

import pytest
import torch

from panohead.inversion import perceptual
from panohead.inversion.perceptual import LPIPS, StructuralLoss, load_lpips_heads, ms_ssim, perceptual_loss
from panohead.inversion.vgg import TAP_CHANNELS, VGG16Features, load_vgg16


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it, and a fresh 'announced once' memory."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(perceptual, "_announced", set())
    return tmp_path / "torch" / "hub" / "checkpoints"


def random_vgg_file(path):
    """A state dict laid out like the ImageNet VGG16 checkpoint (features + classifier), random values."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in VGG16Features().features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def heads_file(path):
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(TAP_CHANNELS)}, path)
    return path


def test_without_weights_the_fallback_is_used_and_announced_once(empty_hub, caplog):
    with caplog.at_level(logging.WARNING, logger="panohead.inversion.perceptual"):
        first = perceptual_loss()
        second = perceptual_loss()
    assert isinstance(first, StructuralLoss) and isinstance(second, StructuralLoss)
    assert first.name == "ms-ssim+gradient"
    assert len([r for r in caplog.records if "no VGG16 weights" in r.getMessage()]) == 1


def test_cached_vgg_weights_give_lpips_and_heads_beside_them_calibrate_it(empty_hub):
    random_vgg_file(empty_hub / "vgg16-397923af.pth")
    uncalibrated = perceptual_loss()
    assert isinstance(uncalibrated, LPIPS) and uncalibrated.name == "lpips-uncalibrated"
    heads_file(empty_hub / "lpips_vgg_v0.1.pth")
    assert perceptual_loss().name == "lpips"


def test_lpips_is_zero_for_identical_images_and_grows_with_the_difference(tmp_path):
    loss = LPIPS(load_vgg16(random_vgg_file(tmp_path / "vgg.pth")), load_lpips_heads(heads_file(tmp_path / "lin.pth")))
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert loss(image, image).abs().max() < 1e-6
    small, large = loss(image + 0.05 * noise, image), loss(image + 0.5 * noise, image)
    assert (small > 0).all() and (large > small).all()


def test_a_given_weights_file_that_is_not_vgg16_is_a_one_line_error(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="resnet.pth: not a VGG16 state dict"):
        perceptual_loss(vgg_weights=bad)
    with pytest.raises(FileNotFoundError, match="absent.pth: weights file not found"):
        perceptual_loss(vgg_weights=tmp_path / "absent.pth")


def test_lpips_heads_file_with_wrong_keys_is_rejected(tmp_path):
    path = tmp_path / "heads.pth"
    torch.save({"lin0.weight": torch.zeros(64)}, path)
    with pytest.raises(ValueError, match="not LPIPS v0.1 VGG weights"):
        load_lpips_heads(path)


def test_fallback_loss_is_zero_for_identical_images_and_orders_blur_correctly():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    slightly = torch.nn.functional.avg_pool2d(image, 3, 1, 1)
    heavily = torch.nn.functional.avg_pool2d(image, 9, 1, 4)
    loss = StructuralLoss()
    assert float(loss(image, image)) == pytest.approx(0.0, abs=1e-5)
    assert 0 < float(loss(slightly, image)) < float(loss(heavily, image))
    assert float(ms_ssim(image, image)) == pytest.approx(1.0, abs=1e-5)
