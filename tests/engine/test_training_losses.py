"""Losses, regularisers and schedules of the training objective, on tiny networks."""

from __future__ import annotations

import pytest
import torch

from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator
from panohead.training.loss import LossOptions, PanoHeadLoss, RealBatch, schedule_at
from tests.conftest import make_tiny_generator

TINY_D = DiscriminatorConfig(resolution=32, channel_base=256, channel_max=32, mapping_layers=2)


def tiny_loss(**options) -> PanoHeadLoss:
    torch.manual_seed(0)
    return PanoHeadLoss(make_tiny_generator(), TriDiscriminator(TINY_D), LossOptions(**options))


def real_batch(loss: PanoHeadLoss, batch: int = 4) -> RealBatch:
    schedule = schedule_at(loss.options, 10**9)
    return RealBatch.from_dataset(
        torch.rand(batch, 3, 32, 32) * 2 - 1, torch.rand(batch, 1, 32, 32), torch.randn(batch, 25), schedule
    )


def test_schedules_fade_blur_noise_and_pose_swap_and_grow_the_neural_resolution():
    options = LossOptions(
        blur_init_sigma=10,
        blur_fade_kimg=200,
        density_noise_fade_kimg=200,
        pose_swap_prob=0.7,
        pose_swap_fade_kimg=1000,
        neural_resolution_final=128,
        neural_resolution_fade_kimg=1000,
    )
    start, middle, end = schedule_at(options, 0), schedule_at(options, 100_000), schedule_at(options, 2_000_000)
    assert (start.blur_sigma, middle.blur_sigma, end.blur_sigma) == (10.0, 5.0, 0.0)
    assert (start.density_noise, middle.density_noise, end.density_noise) == (1.0, 0.5, 0.0)
    assert (
        start.pose_swap_prob == 1.0
        and middle.pose_swap_prob == pytest.approx(0.97)
        and end.pose_swap_prob == pytest.approx(0.7)
    )
    assert (start.neural_resolution, schedule_at(options, 500_000).neural_resolution, end.neural_resolution) == (
        64,
        96,
        128,
    )
    assert schedule_at(LossOptions(density_noise_fade_kimg=0), 0).density_noise == 0.0


def test_pose_conditioning_swaps_cameras_with_the_requested_probability():
    loss = tiny_loss()
    c = torch.arange(8, dtype=torch.float32)[:, None].expand(8, 25)
    assert torch.equal(loss._conditioning(c, 0.0), c)
    assert torch.equal(loss._conditioning(c, 1.0), c.roll(1, 0))
    torch.manual_seed(1)
    swapped = (loss._conditioning(c.repeat(500, 1), 0.7) != c.repeat(500, 1)).any(dim=1).float().mean()
    assert abs(swapped.item() - 0.7) < 0.03


def test_camera_offset_penalty_is_the_weighted_squared_norm_of_the_batch_mean_offset(monkeypatch):
    loss = tiny_loss(camera_offset_weight=10.0)
    z, c = torch.randn(4, 32), torch.randn(4, 25) * 0.01
    schedule = schedule_at(loss.options, 10**9)
    for offsets, penalty in (
        (torch.tensor([[0.1, 0, 0], [-0.1, 0, 0]] * 2), 0.0),
        (torch.tensor([[0.1, 0.2, 0.0]] * 4), 10 * (0.1**2 + 0.2**2)),
    ):
        monkeypatch.setattr(loss.G, "camera_offset", lambda z_, c_, o=offsets: o)
        _, stats = loss.generator_main(z, c, schedule)
        assert stats["camera_offset_penalty"].item() == pytest.approx(penalty, abs=1e-7)
        assert stats["camera_offset"].item() == pytest.approx(offsets.norm(dim=1).mean().item())


def test_r1_weights_the_image_and_mask_channels_separately():
    loss = tiny_loss(r1_gamma=0.0, r1_gamma_mask=4.0)
    real = real_batch(loss)
    value, stats = loss.discriminator_reg(real, schedule_at(loss.options, 10**9))
    assert stats["r1_image"] > 0 and stats["r1_mask"] > 0
    assert value.item() == pytest.approx(2.0 * stats["r1_mask"].item(), rel=1e-5)
    loss.options = LossOptions(r1_gamma=4.0, r1_gamma_mask=0.0)
    value, stats = loss.discriminator_reg(real, schedule_at(loss.options, 10**9))
    assert value.item() == pytest.approx(2.0 * stats["r1_image"].item(), rel=1e-5)


def test_generator_and_discriminator_losses_train_only_their_own_network():
    loss = tiny_loss()
    schedule = schedule_at(loss.options, 0)
    z, c = torch.randn(4, 32), torch.randn(4, 25) * 0.01
    loss.D.requires_grad_(False)
    loss.G.requires_grad_(True)
    value, stats = loss.generator_main(z, c, schedule)
    value.backward()
    assert stats["loss_G"].item() > 0
    assert loss.G.synthesis.blocks["4"].const.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.D.parameters())
    loss.G.requires_grad_(False)
    loss.G.zero_grad(set_to_none=True)
    loss.D.requires_grad_(True)
    value, stats = loss.discriminator_main(real_batch(loss), z, c, schedule)
    value.backward()
    assert value.item() > 0 and torch.isfinite(value)
    assert loss.D.epilogue.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.G.parameters())


def test_density_regulariser_compares_nearby_points():
    loss = tiny_loss(density_reg=0.25)
    value, stats = loss.generator_reg(torch.randn(2, 32), torch.randn(2, 25) * 0.01, schedule_at(loss.options, 0))
    assert value.item() > 0 and stats["density_reg"].item() == value.item()
    far = tiny_loss(density_reg=0.25, density_reg_p_dist=0.2)
    assert far.generator_reg(torch.randn(2, 32), torch.randn(2, 25) * 0.01, schedule_at(far.options, 0))[0] > value


def test_every_phase_runs_under_bfloat16_autocast_with_finite_losses():
    """The GPU runs the phases under bf16 autocast; CPU autocast exercises the same dtype mixing."""
    loss = tiny_loss(density_reg=0.25)
    loss.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    schedule = schedule_at(loss.options, 0)
    z, c = torch.randn(4, 32), torch.randn(4, 25) * 0.01
    w_avg = loss.G.mapping_network.w_avg.clone()
    values = [
        loss.generator_main(z, c, schedule)[0],
        loss.generator_reg(z, c, schedule)[0],
        loss.discriminator_main(real_batch(loss), z, c, schedule)[0],
        loss.discriminator_reg(real_batch(loss), schedule)[0],
    ]
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in values)
    assert loss.G.mapping_network.w_avg.dtype == torch.float32 and not torch.equal(loss.G.mapping_network.w_avg, w_avg)


def test_the_medium_preset_blurs_the_real_raw_image_no_more_than_the_small_one():
    """Issue 19: the medium run's 5 px raw-target blur over 100 kimg let D judge the blur, not the head
    (checkpoints/README.md, "Lease 4"); both presets render 64-px raw images, so the blur must match."""
    from panohead.training.options import training_preset

    image = torch.zeros(1, 3, 256, 256)
    image[..., 96:160, 96:160] = 1.0  # a sharp square: blur spreads it
    raw = {}
    for name in ("small", "medium"):
        config, options = training_preset(name)
        assert config.neural_resolution == 64
        for kimg in (0, 20, 40):
            schedule = schedule_at(options.loss, kimg * 1000)
            real = RealBatch.from_dataset(image, image[:, :1], torch.zeros(1, 25), schedule)
            raw[name, kimg] = real.image_raw
    sharp = torch.nn.functional.interpolate(image, size=64, mode="bilinear", align_corners=False, antialias=True)
    for kimg in (0, 20):
        assert torch.allclose(raw["medium", kimg], raw["small", kimg])
        assert not torch.allclose(raw["medium", kimg], sharp, atol=1e-3)
    assert torch.allclose(raw["medium", 40], sharp, atol=1e-6)  # the blur is gone by 40 kimg
