"""2x FIR upsampling with the [1, 3, 3, 1] binomial filter used throughout StyleGAN2.

Plain PyTorch (transposed and depthwise convolutions); numerically the same as the reference
upsample-filter-downsample formulation because the filter is symmetric and separable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def binomial_filter(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(4, 4) low-pass filter, outer product of [1, 3, 3, 1], normalised to sum 1."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum()


def _depthwise(kernel: torch.Tensor, channels: int, gain: float) -> torch.Tensor:
    return (kernel * gain).to(kernel.dtype)[None, None].expand(channels, 1, *kernel.shape)


def upsample_2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W): zero-insertion upsampling followed by the low-pass filter.

    The gain of 4 keeps the mean intensity (three of four inserted samples are zero).
    """
    channels = x.shape[1]
    return F.conv_transpose2d(x, _depthwise(kernel.to(x.dtype), channels, 4.0), stride=2, padding=1, groups=channels)


def conv_up_2x(x: torch.Tensor, weight: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """3x3 convolution fused with 2x upsampling: (N, I, H, W) -> (N, O, 2H, 2W).

    A stride-2 transposed convolution gives (2H + 1) samples; padding by one and low-pass
    filtering (gain 4) brings it to 2H and removes the aliasing of the zero insertion.
    """
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    x = F.pad(x, [1, 1, 1, 1])
    channels = x.shape[1]
    return F.conv2d(x, _depthwise(kernel.to(x.dtype), channels, 4.0), groups=channels)
