"""Engine behaviours reproduced from the official code, checked against numbers it computes.

The reference values below were computed with the official implementation's reference ops
(``upfirdn2d.upsample2d``, ``conv2d_resample(up=2)``, ``bias_act`` with a clamp) on these inputs.
"""

from __future__ import annotations

import math

import torch

from panohead.config import preset
from panohead.generator import PanoHeadGenerator
from panohead.nn.layers import leaky_relu_gain
from panohead.nn.resample import conv_up_2x, upsample_2x
from panohead.rendering.decoder import FeatureDecoder
from panohead.rendering.trigrid import sample_trigrid

IMAGE = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).reshape(1, 1, 2, 2)


def test_skip_image_upsampling_matches_the_official_upfirdn_filter():
    expected = torch.tensor(
        [
            [0.5625, 0.9375, 1.3125, 1.1250],
            [1.1250, 1.8125, 2.4375, 2.0625],
            [1.8750, 2.9375, 3.8125, 3.1875],
            [1.6875, 2.6250, 3.3750, 2.8125],
        ]
    )
    assert torch.allclose(upsample_2x(IMAGE)[0, 0], expected, atol=1e-6)


def test_upsampling_convolution_matches_the_official_conv2d_resample():
    weight = torch.tensor([[0.5, -1.0, 0.25], [1.0, 2.0, -0.5], [0.0, 1.5, -2.0]]).reshape(1, 1, 3, 3)
    expected = torch.tensor(
        [
            [2.0, 2.6875, 2.359375, 0.546875],
            [4.09375, 5.21875, 4.640625, 0.953125],
            [7.078125, 8.703125, 8.0625, 2.25],
            [7.203125, 8.265625, 7.65625, 1.53125],
        ]
    )
    assert torch.allclose(conv_up_2x(IMAGE, weight)[0, 0], expected, atol=1e-6)


def test_conv_clamp_limits_the_activation_after_its_sqrt2_gain():
    out = leaky_relu_gain(torch.tensor([-3.0, 0.5, 2.0]), clamp=1.0)
    assert torch.allclose(out, torch.tensor([-0.848528, 0.707107, 1.0]), atol=1e-6)


def test_panohead_single_plane_grid_fades_along_its_normal_like_the_official_sampler():
    grids = torch.ones(1, 3, 1, 1, 4, 4)  # D = 1, one channel of ones
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.25], [0.1, 0.2, -0.25]]])
    features = sample_trigrid(grids, points, box_warp=1.0, layout="panohead-3d")[0, :, 0]
    # grid 0 reads depth z, grid 1 depth y, grid 2 depth x; each weight is 1 - |2p| / 2.
    expected = [1.0, (0.75 + 1 + 1) / 3, (0.75 + 0.8 + 0.9) / 3]
    assert torch.allclose(features, torch.tensor(expected), atol=1e-6)


def test_eg3d_plane_is_constant_along_its_normal():
    grids = torch.ones(1, 3, 1, 1, 16, 16)
    points = torch.tensor([[[0.1, 0.2, -0.25], [0.0, 0.0, 0.45]]])
    assert torch.allclose(sample_trigrid(grids, points, 1.0, layout="eg3d"), torch.ones(1, 2, 1))


def test_decoder_lrelu_option_scales_positive_features_by_sqrt2():
    decoder = FeatureDecoder(2, hidden=3, activation="lrelu")
    with torch.no_grad():
        decoder.out.weight.zero_()
        decoder.out.bias.copy_(torch.tensor([0.0, 1.5, -1.0]))
    _, colour = decoder(torch.zeros(1, 2))
    assert torch.allclose(colour, torch.tensor([[1.5 * math.sqrt(2), -0.2 * math.sqrt(2)]]))


def test_camera_offset_is_truncated_with_the_generator_psi():
    torch.manual_seed(0)
    G = PanoHeadGenerator(preset("tiny")).eval()
    with torch.no_grad():
        G.camera_adapter.w_avg.copy_(torch.tensor([0.1, -0.2, 0.3]))
        z, c = torch.randn(1, 32), torch.randn(1, 25)
        assert torch.allclose(G.camera_offset(z, c, psi=0.0), torch.tensor([[0.1, -0.2, 0.3]]))
        full, half = G.camera_offset(z, c), G.camera_offset(z, c, psi=0.5)
    assert torch.allclose(half, 0.5 * (full + G.camera_adapter.w_avg))


def test_superresolution_can_refine_at_its_input_resolution_before_upsampling():
    cfg = preset("tiny", sr_upsample_first=False, sr_channels=(16, 8), image_resolution=32)
    G = PanoHeadGenerator(cfg).eval()
    assert [block.resolution for block in G.superres.blocks] == [16, 32]
    out = G.superres(torch.randn(1, 3, 16, 16), torch.randn(1, 8, 16, 16), torch.randn(1, G.num_ws, 32))
    assert out.shape == (1, 3, 32, 32)
