"""The memory-lean training layers (panohead.nn.fused) compute what the plain formulas compute."""

from __future__ import annotations

import copy

import pytest
import torch

from panohead.nn import fused
from panohead.nn.layers import demodulation, leaky_relu_gain
from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator
from panohead.views.camera import orbit_camera
from tests.conftest import make_tiny_generator

TINY_D = DiscriminatorConfig(resolution=32, channel_base=256, channel_max=32, mapping_layers=2)


def _gradients(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def test_demodulation_is_the_norm_of_the_modulated_weights():
    weight, styles = torch.randn(6, 5, 3, 3, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    modulated = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k), the textbook formula
    expected = (modulated.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt()
    torch.testing.assert_close(demodulation(weight, styles), expected)


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_bias_act_matches_the_plain_epilogue_in_value_gradient_and_second_derivative(clamp):
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(3, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    demod = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, 5, 5, dtype=torch.float64)

    def plain():
        return leaky_relu_gain(x * demod[:, :, None, None] + bias[None, :, None, None] + noise, clamp, 0.7)

    def lean():
        return fused.bias_act(x, bias, noise, demod, gain=0.7, clamp=clamp)

    results = []
    for function in (plain, lean):
        y = function()
        grads = torch.autograd.grad((y * weight).sum(), (x, bias, noise, demod), create_graph=True)
        second = torch.autograd.grad(sum((g * g).sum() for g in grads), (demod, x), allow_unused=True)
        results.append((y, grads, second))
    (y0, g0, s0), (y1, g1, s1) = results
    torch.testing.assert_close(y1, y0)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(s1[0], s0[0])  # d/d demod of the squared gradients (through grad_x = grad * demod)
    if clamp is not None:
        assert (y1.abs() <= clamp * 0.7 + 1e-12).all() and (y1.abs() == clamp * 0.7).any()


def test_fused_generator_matches_the_plain_one_in_images_and_parameter_gradients():
    torch.manual_seed(1)
    G = make_tiny_generator().double().train().requires_grad_(True)
    with torch.no_grad():  # non-zero noise strengths and biases, so their gradients are compared too
        for name, parameter in G.named_parameters():
            if name.endswith(("noise_strength", "bias")):
                parameter.normal_(0.0, 0.3)
    G_fused = copy.deepcopy(G)
    z = torch.randn(2, G.config.z_dim, dtype=torch.float64)
    c = orbit_camera(torch.tensor([0.0, 46.0])).double()
    images = []
    for generator, on in ((G, False), (G_fused, True)):
        torch.manual_seed(5)  # the same random noise and ray jitter in both
        with fused.fused_layers(on):
            out = generator(z, c, noise_mode="random", jitter=True)
        (out["image"].square().mean() + out["image_raw"].mean()).backward()
        images.append(out["image"])
    torch.testing.assert_close(images[1], images[0])
    plain, lean = _gradients(G), _gradients(G_fused)
    assert plain.keys() == lean.keys() and len(plain) > 50
    for name in plain:  # float32 rounding: the to-RGB skip outputs are cast to float32 even in a double model
        torch.testing.assert_close(lean[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
def test_fused_discriminator_gives_the_same_r1_penalty_gradients_as_the_plain_one():
    torch.manual_seed(2)
    D = TriDiscriminator(TINY_D).double()
    image = torch.randn(4, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    raw, mask, c = torch.randn(4, 3, 16, 16).double(), torch.rand(4, 1, 16, 16).double(), torch.randn(4, 25).double()
    results = []
    for on in (False, True):
        D.zero_grad(set_to_none=True)
        with fused.fused_layers(on):
            logits = D(image, raw, mask, c)
            (grad,) = torch.autograd.grad(logits.sum(), image, create_graph=True)
            grad.square().sum().backward()
        results.append((logits.detach(), _gradients(D)))
    torch.testing.assert_close(results[1][0], results[0][0])
    assert results[0][1].keys() == results[1][1].keys()
    for name, value in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], value, msg=name)


def test_fused_layers_is_off_by_default_and_restored_after_the_block():
    assert not fused.enabled()
    with fused.fused_layers():
        assert fused.enabled()
        with fused.fused_layers(False):
            assert not fused.enabled()
        assert fused.enabled()
    assert not fused.enabled()
