"""Equalised-learning-rate layers and the modulated convolution of StyleGAN2."""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from panohead.nn import fused
from panohead.nn.fused import ACTIVATIONS, LRELU_GAIN, Activation, per_channel
from panohead.nn.resample import conv_down_2x, conv_up_2x, downsample_2x

# Per-pixel noise of the synthesis layers: a fresh draw, the stored buffers (reproducible), or none.
NoiseMode = Literal["const", "random", "none"]
NOISE_MODES: tuple[NoiseMode, ...] = get_args(NoiseMode)


def leaky_relu_gain(x: torch.Tensor, clamp: float | None = None, gain: float = 1.0) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) scaled by sqrt(2) * gain to keep unit variance, then clamped to +-clamp * gain.

    The clamp applies after the sqrt(2) gain and scales only with the extra ``gain`` (the official
    bias_act semantics), so a conv_clamp of 256 bounds activations at exactly 256.
    """
    x = F.leaky_relu(x, 0.2) * (LRELU_GAIN * gain)
    return x.clamp(-clamp * gain, clamp * gain) if clamp is not None else x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of (B, C) to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Fully connected layer with runtime weight scaling ("equalised learning rate").

    Weights are stored as N(0, 1) / lr_multiplier and scaled by lr_multiplier / sqrt(fan_in) at run
    time, so Adam's per-parameter step is the same for every layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: Activation = "linear",
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        self.activation: Activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # the gains as addmm's scale factors: two operations fewer than scaling the tensors first
            weight, bias = self.weight.to(x.dtype), self.bias.to(x.dtype)
            x = torch.addmm(bias, x, weight.t(), beta=self.bias_gain, alpha=self.weight_gain)
        else:
            weight = self.weight.to(x.dtype) * self.weight_gain
            x = F.linear(x, weight, self.bias.to(x.dtype) * self.bias_gain)
        return leaky_relu_gain(x) if self.activation == "lrelu" else x


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """(B, O) factors 1 / ||w[o] * styles[b]|| that demodulate weights (O, I, k, k) for styles (B, I).

    sum_{i,k} (w[o,i,k] s[b,i])^2 = sum_i s[b,i]^2 sum_k w[o,i,k]^2: a (B, O, I) product summed over I
    instead of the (B, O, I, k, k) tensor of modulated weights (0.3 GiB per 512-channel layer at batch 8,
    kept for the backward pass). Elementwise rather than a matmul, so TF32 never rounds it; at least
    float32, also under autocast: the norm feeds every output channel.
    """
    dtype = torch.promote_types(weight.dtype, torch.float32)
    with torch.autocast(weight.device.type, enabled=False):
        energy = weight.to(dtype).square().sum(dim=(2, 3))  # (O, I)
        return ((styles.to(dtype).square()[:, None, :] * energy[None]).sum(dim=2) + 1e-8).rsqrt()


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up: bool = False,
) -> torch.Tensor:
    """Modulate input channels by per-sample ``styles`` (B, I), convolve, then demodulate.

    Demodulation divides each output channel by the norm of its modulated weights, which is what
    "weight demodulation" replaces AdaIN with (StyleGAN2, Sec. 2.2). Implemented by scaling
    activations rather than weights, so one convolution serves the whole batch.
    """
    x = x * per_channel(styles.to(x.dtype))
    w = weight.to(x.dtype)
    if up:
        x = conv_up_2x(x, w)
    else:
        x = F.conv2d(x, w, padding=w.shape[-1] // 2)
    if demodulate:
        x = x * per_channel(demodulation(weight, styles).to(x.dtype))
    return x


class ModulatedConv(nn.Module):
    """A synthesis layer: style-modulated 3x3 conv (optionally 2x up), per-pixel noise, bias, lrelu."""

    noise_const: torch.Tensor  # (resolution, resolution) buffer: the "const" noise

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor:
        styles = self.affine(w)
        if fused.enabled():
            x = fused.modulated_conv(x, styles, self.weight, self.up)
            demod = demodulation(self.weight, styles).to(x.dtype)
            return fused.bias_act(x, self.bias.to(x.dtype), self.noise(x, noise_mode), demod, clamp=self.conv_clamp)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up)
        noise = self.noise(x, noise_mode)
        x = x if noise is None else x + noise
        return leaky_relu_gain(x + per_channel(self.bias.to(x.dtype)), self.conv_clamp)

    def noise(self, x: torch.Tensor, noise_mode: NoiseMode) -> torch.Tensor | None:
        """Per-pixel noise to add to the conv output x (B, C, H, W): (B, 1, H, W) random, (H, W) fixed, or None."""
        if noise_mode == "random":
            return (
                torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
                * self.noise_strength
            )
        if noise_mode == "const":
            return (self.noise_const * self.noise_strength).to(x.dtype)
        if noise_mode != "none":
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        return None


class ModulatedToRGB(nn.Module):
    """1x1 modulated conv without demodulation: features -> image channels (or tri-grid features)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if fused.enabled():
            x = fused.modulated_conv(x, styles, self.weight)
            return fused.bias_act(x, self.bias.to(x.dtype), activation="linear", clamp=self.conv_clamp)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        x = x + per_channel(self.bias.to(x.dtype))
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class EqualConv2d(nn.Module):
    """Plain (unmodulated) convolution with equalised learning rate: the discriminator's layer.

    Weights are N(0, 1) scaled by 1 / sqrt(fan_in) at run time. ``down`` fuses a 2x low-pass
    downsampling (blur + stride 2). ``forward(x, gain)`` scales the activated output by ``gain``,
    which the residual blocks use to keep unit variance when adding two branches.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        activation: Activation = "lrelu",
        bias: bool = True,
        down: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.activation: Activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """(N, I, H, W) -> (N, O, H, W), or (N, O, H/2, W/2) with ``down``."""
        weight = (self.weight * self.weight_gain).to(x.dtype)
        size = weight.shape[-1]
        if not self.down:
            x = F.conv2d(x, weight, padding=size // 2)
        elif size == 1:
            x = F.conv2d(downsample_2x(x), weight)
        else:
            x = conv_down_2x(x, weight)
        if fused.enabled():
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return fused.bias_act(x, bias, activation=self.activation, gain=gain, clamp=self.conv_clamp)
        if self.bias is not None:
            x = x + per_channel(self.bias.to(x.dtype))
        if self.activation == "lrelu":
            return leaky_relu_gain(x, self.conv_clamp, gain)
        x = x * gain if gain != 1.0 else x
        return x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain) if self.conv_clamp is not None else x
