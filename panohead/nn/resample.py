"""2x FIR up- and downsampling with the [1, 3, 3, 1] binomial filter used throughout StyleGAN2.

Plain PyTorch (transposed, strided and depthwise convolutions); numerically the same as the
reference upsample-filter-downsample formulation because the filter is symmetric and separable.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def binomial_filter(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(4, 4) low-pass filter, outer product of [1, 3, 3, 1], normalised to sum 1.

    Made on the device without host data (no copy from host memory, allowed in CUDA graph capture).
    """
    taps = torch.full((4,), 3.0, device=device, dtype=dtype)
    taps[::3].fill_(1.0)
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=256)
def _cached_depthwise(
    channels: int, gain: float, dtype: torch.dtype, device: torch.device, inference: bool
) -> torch.Tensor:
    return _build_depthwise(channels, gain, dtype, device)


def _build_depthwise(channels: int, gain: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return (binomial_filter(device) * gain).to(dtype)[None, None].expand(channels, 1, 4, 4)


def depthwise_filter(channels: int, gain: float, like: torch.Tensor) -> torch.Tensor:
    """(channels, 1, 4, 4) binomial filter times ``gain`` in the dtype and on the device of ``like``.

    Built once per (channels, gain, dtype, device) and reused: building it at every call dispatched
    five operations, two of them kernels, in each of the ~80 resampling calls of a training step. Inside
    a CUDA graph capture a missing filter is built uncached (kernels recorded there only run on replay);
    inference tensors are kept apart, since autograd refuses to save them for a backward pass.
    """
    if like.is_cuda and torch.cuda.is_current_stream_capturing():
        return _build_depthwise(channels, gain, like.dtype, like.device)
    return _cached_depthwise(channels, float(gain), like.dtype, like.device, torch.is_inference_mode_enabled())


def upsample_2x(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W): zero-insertion upsampling followed by the low-pass filter.

    The gain of 4 keeps the mean intensity (three of four inserted samples are zero).
    """
    channels = x.shape[1]
    return F.conv_transpose2d(x, depthwise_filter(channels, 4.0, x), stride=2, padding=1, groups=channels)


def conv_up_2x(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """3x3 convolution fused with 2x upsampling: (N, I, H, W) -> (N, O, 2H, 2W).

    A stride-2 transposed convolution gives (2H + 1) samples; padding by one and low-pass
    filtering (gain 4) brings it to 2H and removes the aliasing of the zero insertion.
    """
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    x = F.pad(x, [1, 1, 1, 1])
    channels = x.shape[1]
    return F.conv2d(x, depthwise_filter(channels, 4.0, x), groups=channels)


def downsample_2x(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2): low-pass filter, then keep every other sample.

    One sample of zero padding on each side centres the 4-tap filter between output pixels.
    """
    channels = x.shape[1]
    return F.conv2d(F.pad(x, [1, 1, 1, 1]), depthwise_filter(channels, 1.0, x), stride=2, groups=channels)


def conv_down_2x(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """3x3 convolution fused with 2x downsampling: (N, I, H, W) -> (N, O, H/2, W/2).

    Low-pass filtering with two samples of padding gives H + 1 samples; a stride-2 3x3 convolution
    without padding then lands on H / 2, the discriminator's downsampling convolution.
    """
    channels = x.shape[1]
    x = F.conv2d(F.pad(x, [2, 2, 2, 2]), depthwise_filter(channels, 1.0, x), groups=channels)
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
