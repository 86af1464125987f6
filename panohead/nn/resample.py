"""2x FIR up- and downsampling with the [1, 3, 3, 1] binomial filter used throughout StyleGAN2.

Plain PyTorch (transposed, strided and depthwise convolutions); numerically the same as the
reference upsample-filter-downsample formulation because the filter is symmetric and separable.
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


def downsample_2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2): low-pass filter, then keep every other sample.

    One sample of zero padding on each side centres the 4-tap filter between output pixels.
    """
    channels = x.shape[1]
    return F.conv2d(F.pad(x, [1, 1, 1, 1]), _depthwise(kernel.to(x.dtype), channels, 1.0), stride=2, groups=channels)


def conv_down_2x(x: torch.Tensor, weight: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """3x3 convolution fused with 2x downsampling: (N, I, H, W) -> (N, O, H/2, W/2).

    Low-pass filtering with two samples of padding gives H + 1 samples; a stride-2 3x3 convolution
    without padding then lands on H / 2, the discriminator's downsampling convolution.
    """
    channels = x.shape[1]
    x = F.conv2d(F.pad(x, [2, 2, 2, 2]), _depthwise(kernel.to(x.dtype), channels, 1.0), groups=channels)
    return F.conv2d(x, weight, stride=2)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with taps exp2(-(t / sigma)^2), |t| <= 3 sigma; same size out.

    Blurring what the discriminator sees early in training hides the super-resolution's high
    frequencies until the 3D structure has formed (EG3D's dual discrimination schedule).
    """
    radius = int(3 * sigma)
    if radius <= 0:
        return x
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32).div(sigma).square().neg().exp2()
    taps = taps / taps.sum()
    channels = x.shape[1]
    with torch.autocast(x.device.type, enabled=False):  # long filters sum in float32 even under mixed precision
        y = F.conv2d(
            F.pad(x.float(), [radius, radius, 0, 0]), taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels
        )
        y = F.conv2d(
            F.pad(y, [0, 0, radius, radius]), taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels
        )
    return y.to(x.dtype)
