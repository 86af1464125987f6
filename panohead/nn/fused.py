"""Memory-lean training versions of the convolution layers' epilogue and of style modulation.

Autograd of the plain formulas (:mod:`panohead.nn.layers`) keeps an activation-sized tensor for
almost every elementwise step: the sum before the leaky ReLU, the scaled value before the clamp, the
modulated input of each convolution. At 512x512 with 128 channels and batch 8 each such tensor is
0.5 GiB in bf16, and they made up about two thirds of what a generator step kept for its backward.
The two autograd functions here compute the same values but keep only what their backward needs:

* :func:`bias_act` keeps its output y (and the pre-scale input when it demodulates): since every
  gain is positive, the leaky ReLU's slope is read from y's sign and the clamp's mask from |y|.
  Its backward is made of differentiable tensor operations, so the R1 penalty's double backward
  through the discriminator works as with the plain formula.
* :func:`modulated_conv` keeps the convolution's input x and the styles and recomputes x * styles
  in its backward (one cheap elementwise product instead of a stored activation). It is once
  differentiable, which is all the generator needs (R1 differentiates the discriminator only).

They are used while :func:`enabled` is on: the training loop turns it on for its passes when
``TrainOptions.fused_layers`` (the default); inference keeps the plain formulas, which keep nothing.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from panohead.nn.resample import conv_up_2x, depthwise_filter

LRELU_GAIN = math.sqrt(2.0)
Activation = Literal["lrelu", "linear"]  # a layer's output: leaky ReLU (with its gain) or left linear
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
SLOPE = 0.2
_state = threading.local()


def enabled() -> bool:
    """Whether the layers of this thread use the functions of this module."""
    return getattr(_state, "enabled", False)


@contextlib.contextmanager
def fused_layers(on: bool = True) -> Iterator[None]:
    """Use the memory-lean functions (``on``) or the plain formulas in this thread while inside."""
    saved = enabled()
    _state.enabled = on
    try:
        yield
    finally:
        _state.enabled = saved


def per_channel(values: torch.Tensor) -> torch.Tensor:
    """(C,) or (B, C) values as a view that broadcasts over (B, C, H, W): one view operation where
    ``values[None, :, None, None]`` dispatches three (every operation costs the host, see panohead.op_count)."""
    return values.view(1, -1, 1, 1) if values.ndim == 1 else values.view(*values.shape, 1, 1)


class _BiasAct(torch.autograd.Function):
    """y = clamp(act(g * (x * demod + bias + noise)), -clamp, clamp); see :func:`bias_act`.

    ``g`` > 0 is the total gain, applied before the activation (act(g v) = g act(v) for a leaky ReLU)
    so that it multiplies the small tensors (demod, bias, noise) instead of the activation: the forward
    is four passes over the activation (multiply-add, noise, leaky ReLU, clamp), the backward two
    (leaky ReLU and clamp masks read from y) plus the sums of the parameter gradients.
    """

    @staticmethod
    def forward(ctx, x, bias, noise, demod, lrelu: bool, gain: float, clamp: float | None):
        scaled_bias = None if bias is None else per_channel(bias * gain)
        if demod is not None:
            scale = per_channel(demod * gain)
            y = torch.addcmul(scaled_bias, x, scale) if scaled_bias is not None else x * scale
        elif scaled_bias is not None:
            y = torch.add(scaled_bias, x, alpha=gain)
        else:
            y = x * gain
        if noise is not None:
            y.add_(noise, alpha=gain)
        if lrelu:
            F.leaky_relu_(y, SLOPE)
        if clamp is not None:
            y.clamp_(-clamp, clamp)
        # y itself is kept only when the backward reads it (a plain linear epilogue needs nothing).
        ctx.save_for_backward(y if lrelu or clamp is not None else None, x if demod is not None else None, demod)
        ctx.config = (lrelu, gain, clamp, bias is not None, None if noise is None else noise.shape)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        y, x, demod = ctx.saved_tensors
        lrelu, gain, clamp, has_bias, noise_shape = ctx.config
        # Gradient with respect to g * (x * demod + bias + noise). The masks read y detached: they are
        # piecewise constant, so nothing flows back through them in the R1 double backward.
        grad = grad_y
        if lrelu:  # slope 1 where y > 0, else 0.2 (g > 0, so y has the sign of the activation's input)
            grad = torch.ops.aten.leaky_relu_backward(grad, y.detach(), SLOPE, True)
        if clamp is not None:  # no gradient where the clamp cut the value
            grad = torch.ops.aten.hardtanh_backward(grad, y.detach(), -clamp, clamp)
        grad_x = grad_demod = grad_bias = grad_noise = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * per_channel(demod * gain) if demod is not None else grad * gain
        if demod is not None and ctx.needs_input_grad[3]:
            grad_demod = (grad * x).sum(dim=(2, 3)) * gain
        if has_bias and ctx.needs_input_grad[1]:
            grad_bias = grad.sum(dim=(0, 2, 3)) * gain
        if noise_shape is not None and ctx.needs_input_grad[2]:
            grad_noise = grad.sum_to_size(noise_shape) * gain
        return grad_x, grad_bias, grad_noise, grad_demod, None, None, None


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    demod: torch.Tensor | None = None,
    activation: Activation = "lrelu",
    gain: float = 1.0,
    clamp: float | None = None,
) -> torch.Tensor:
    """The epilogue of a convolution on (B, C, H, W): scale each sample's channels by ``demod`` (B, C),
    add ``bias`` (C,) and ``noise`` (broadcast to x), apply the leaky ReLU with its sqrt(2) gain (or
    nothing for ``activation='linear'``), multiply by ``gain`` and clamp to +-``clamp * gain``.

    The same function as :func:`panohead.nn.layers.leaky_relu_gain` after the sums; only the
    output (plus x when ``demod`` is given) is kept for the backward pass.
    """
    total_gain = gain * (LRELU_GAIN if activation == "lrelu" else 1.0)
    bound = None if clamp is None else clamp * gain
    return _BiasAct.apply(x, bias, noise, demod, activation == "lrelu", total_gain, bound)


class _ModulatedConv(torch.autograd.Function):
    """conv(x * styles, weight), keeping x and styles instead of their product; see :func:`modulated_conv`."""

    @staticmethod
    def forward(ctx, x, styles, weight, up: bool):
        modulated = x * per_channel(styles)
        out = conv_up_2x(modulated, weight) if up else F.conv2d(modulated, weight, padding=weight.shape[-1] // 2)
        ctx.save_for_backward(x, styles, weight)
        ctx.up = up
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, styles, weight = ctx.saved_tensors
        modulated = x * per_channel(styles)
        mask = [ctx.needs_input_grad[0] or ctx.needs_input_grad[1], ctx.needs_input_grad[2], False]
        if ctx.up:
            # conv_up_2x = depthwise FIR (gain 4) of the 1-padded stride-2 transposed convolution.
            channels = grad_out.shape[1]
            fir = depthwise_filter(channels, 4.0, grad_out)
            grad_out = F.conv_transpose2d(grad_out, fir, padding=1, groups=channels)  # padding=1 drops the pad
            grad_mod, grad_w, _ = torch.ops.aten.convolution_backward(
                grad_out, modulated, weight.transpose(0, 1), None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1, mask
            )
            grad_w = None if grad_w is None else grad_w.transpose(0, 1)
        else:
            pad = weight.shape[-1] // 2
            grad_mod, grad_w, _ = torch.ops.aten.convolution_backward(
                grad_out, modulated, weight, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask
            )
        grad_x = grad_styles = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_mod * per_channel(styles)
        if ctx.needs_input_grad[1]:
            grad_styles = (grad_mod * x).sum(dim=(2, 3))
        return grad_x, grad_styles, grad_w, None


def modulated_conv(x: torch.Tensor, styles: torch.Tensor, weight: torch.Tensor, up: bool = False) -> torch.Tensor:
    """conv(x * styles) of (B, I, H, W) with (O, I, k, k) weights (2x up-sampling with ``up``): the same
    values as the plain formula with one activation-sized tensor fewer kept.

    Under autocast everything is computed in the autocast dtype (where the plain formula's convolution
    would cast to), with autocast off inside so that forward and backward see the same dtypes.
    """
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    with torch.autocast(device, enabled=False):
        return _ModulatedConv.apply(x.to(dtype), styles.to(dtype), weight.to(dtype), up)
