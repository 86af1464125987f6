"""The tri-discriminator and the layers it is built from."""

from __future__ import annotations

import torch

from panohead.nn.layers import EqualConv2d, leaky_relu_gain
from panohead.nn.resample import binomial_filter, conv_down_2x, downsample_2x, gaussian_blur
from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator, minibatch_stddev

TINY = DiscriminatorConfig(resolution=32, channel_base=256, channel_max=32, mapping_layers=2)


def test_downsample_keeps_a_constant_image_constant_inside_and_halves_its_size():
    out = downsample_2x(torch.full((1, 2, 16, 16), 3.0))
    assert out.shape == (1, 2, 8, 8)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.full((1, 2, 6, 6), 3.0))
    assert out[0, 0, 0, 0] < 3.0  # zero padding at the border, as in the official filter


def test_strided_conv_with_a_centre_tap_equals_filter_then_subsample():
    x = torch.randn(2, 3, 16, 16)
    weight = torch.zeros(3, 3, 3, 3)
    weight[range(3), range(3), 1, 1] = 1.0  # identity 3x3 kernel
    out = conv_down_2x(x, weight)
    assert out.shape == (2, 3, 8, 8)
    blurred = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, [2, 2, 2, 2]), binomial_filter()[None, None].expand(3, 1, 4, 4), groups=3
    )
    torch.testing.assert_close(out, blurred[:, :, 1:-1:2, 1:-1:2])


def test_gaussian_blur_preserves_a_constant_away_from_borders_and_is_identity_for_tiny_sigma():
    x = torch.full((1, 1, 31, 31), 2.0)
    torch.testing.assert_close(gaussian_blur(x, 2.0)[..., 8:-8, 8:-8], torch.full((1, 1, 15, 15), 2.0))
    y = torch.randn(1, 3, 8, 8)
    assert torch.equal(gaussian_blur(y, 0.3), y)  # 3 sigma < 1 pixel: no taps


def test_conv_clamp_bounds_activations_at_exactly_the_clamp_times_the_extra_gain():
    x = torch.full((1, 1, 1, 1), 1000.0)
    assert leaky_relu_gain(x, clamp=256.0).item() == 256.0
    assert leaky_relu_gain(x, clamp=256.0, gain=0.5).item() == 128.0
    assert abs(leaky_relu_gain(torch.tensor(2.0)).item() - 2.0 * 2**0.5) < 1e-6


def test_residual_skip_is_linear_and_scaled_by_gain():
    layer = EqualConv2d(4, 4, 1, activation="linear", bias=False, down=True)
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(layer(-x, gain=0.5), -0.5 * layer(x))


def test_discriminator_scores_each_sample_from_seven_channels_at_the_output_resolution():
    torch.manual_seed(0)
    D = TriDiscriminator(TINY)
    assert D.blocks["32"].fromrgb.weight.shape[1] == 7
    assert list(D.blocks) == ["32", "16", "8"]
    logits = D(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 16, 16), torch.rand(4, 1, 16, 16), torch.randn(4, 25))
    assert logits.shape == (4, 1) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_discriminator_depends_on_the_mask_and_the_camera_but_not_without_its_mask_channel():
    torch.manual_seed(0)
    image, raw, c = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 16, 16), torch.randn(4, 25)
    empty, full = torch.zeros(4, 1, 16, 16), torch.ones(4, 1, 16, 16)
    D = TriDiscriminator(TINY)
    assert not torch.allclose(D(image, raw, empty, c), D(image, raw, full, c))
    assert not torch.allclose(D(image, raw, empty, c), D(image, raw, empty, -c))
    dual = TriDiscriminator(DiscriminatorConfig(**{**TINY.__dict__, "mask_channel": False}))
    assert dual.blocks["32"].fromrgb.weight.shape[1] == 6
    torch.testing.assert_close(dual(image, raw, empty, c), dual(image, raw, full, c))


def test_minibatch_stddev_groups_every_other_sample_with_group_size_two():
    x = torch.zeros(4, 2, 4, 4)
    x[1] = 1.0  # samples 1 and 3 form a group (official strided grouping): std 0.5 there, 0 for 0 and 2
    out = minibatch_stddev(x, group_size=2)
    assert out.shape == (4, 3, 4, 4)
    assert torch.allclose(out[:, 2, 0, 0], torch.tensor([0.0, 0.5, 0.0, 0.5]), atol=1e-3)
