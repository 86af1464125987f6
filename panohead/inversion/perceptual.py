"""Perceptual distances for inversion: LPIPS when its weights are on disk, a documented fallback otherwise.

* ``lpips``: LPIPS v0.1 (Zhang et al. 2018): unit-normalise VGG16 features per pixel, square their
  difference, weigh channels with the learned linear heads, average over space, sum over the 5 taps.
* ``lpips-uncalibrated``: the same without learned heads (every channel weighted 1), used when the
  VGG16 weights exist but the heads do not (the LPIPS paper's "baseline" variant).
* ``ms-ssim+gradient``: no network at all, for offline machines: 1 - multi-scale SSIM plus an L1
  distance between finite-difference image gradients (see docs/inversion.md).

Nothing is ever downloaded; the choice is announced once per process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from panohead.errors import one_line
from panohead.inversion.vgg import TAP_CHANNELS, VGG16_FILE, downsample_for_vgg, hub_checkpoint_path, load_vgg16

LPIPS_FILE = "lpips_vgg_v0.1.pth"
# MS-SSIM scale weights (Wang et al. 2003), renormalised over the scales an image is large enough for.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
log = logging.getLogger(__name__)
_announced: set[str] = set()


class LPIPS(nn.Module):
    """LPIPS distance between image batches (B, 3, H, W) in [-1, 1] -> (B,)."""

    def __init__(self, vgg: nn.Module, heads: list[torch.Tensor] | None = None) -> None:
        super().__init__()
        self.vgg = vgg
        weights = heads or [torch.ones(1, c, 1, 1) for c in TAP_CHANNELS]
        for index, weight in enumerate(weights):
            self.register_buffer(f"head{index}", weight.reshape(1, -1, 1, 1).float())
        self.name = "lpips" if heads else "lpips-uncalibrated"

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised VGG16 taps of images; cache the target's once with this."""
        taps = self.vgg(downsample_for_vgg(images))
        return [t / (t.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for t in taps]

    def distance(self, features_a: list[torch.Tensor], features_b: list[torch.Tensor]) -> torch.Tensor:
        total = None
        for index, (a, b) in enumerate(zip(features_a, features_b, strict=True)):
            term = ((a - b).square() * getattr(self, f"head{index}")).sum(dim=1).mean(dim=(1, 2))
            total = term if total is None else total + term
        assert total is not None  # five taps
        return total

    def forward(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(images), self.features(target))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    window = torch.exp(-coords.square() / (2 * sigma**2))
    return window / window.sum()


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders, so images as small as 8x8 keep their size."""
    channels, pad = x.shape[1], window.numel() // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, window.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, window.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def ssim(a: torch.Tensor, b: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of images (B, C, H, W) in [0, 1] -> (B,)."""
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _blur(a, window), _blur(b, window)
    var_a = _blur(a * a, window) - mu_a.square()
    var_b = _blur(b * b, window) - mu_b.square()
    cov = _blur(a * b, window) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2))
    return value.mean(dim=(1, 2, 3))


def ms_ssim(a: torch.Tensor, b: torch.Tensor, window: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean of SSIM over up to 5 dyadic scales (down to 16 px) of images in [-1, 1] -> (B,).

    A weighted arithmetic mean rather than MS-SSIM's product of powers: it stays differentiable when a
    scale's SSIM is negative, which happens early in an inversion. ``window`` defaults to
    :func:`gaussian_window` (pass it on the images' device to avoid a host-to-device copy per call).
    """
    window = gaussian_window().to(a.device, a.dtype) if window is None else window
    a, b = (a + 1) / 2, (b + 1) / 2
    total, weight_sum = None, 0.0
    for weight in MS_SSIM_WEIGHTS:
        term = weight * ssim(a, b, window)
        total = term if total is None else total + term
        weight_sum += weight
        if min(a.shape[-2:]) < 32:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    assert total is not None  # at least one scale
    return total / weight_sum


def gradient_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between horizontal and vertical finite differences (edges, hair strands) -> (B,)."""

    def grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]

    (ax, ay), (bx, by) = grads(a), grads(b)
    return (ax - bx).abs().mean(dim=(1, 2, 3)) + (ay - by).abs().mean(dim=(1, 2, 3))


class StructuralLoss(nn.Module):
    """Offline fallback: (1 - MS-SSIM) + image-gradient L1, images (B, 3, H, W) in [-1, 1] -> (B,)."""

    name = "ms-ssim+gradient"

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", gaussian_window(), persistent=False)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [images]

    def distance(self, features_a: list[torch.Tensor], features_b: list[torch.Tensor]) -> torch.Tensor:
        a, b = features_a[0], features_b[0]
        return (1 - ms_ssim(a, b, self.window.to(a.dtype))) + gradient_distance(a, b)

    def forward(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.distance([images], [target])


def load_lpips_heads(path: str | os.PathLike) -> list[torch.Tensor]:
    """The five LPIPS v0.1 linear heads from the reference ``vgg.pth`` (keys ``lin<k>.model.1.weight``)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot read LPIPS weights ({one_line(error)[:120]})") from None
    heads = []
    for index, channels in enumerate(TAP_CHANNELS):
        key = f"lin{index}.model.1.weight"
        tensor = state.get(key) if isinstance(state, dict) else None
        if tensor is None or tensor.numel() != channels:
            raise ValueError(f"{path}: not LPIPS v0.1 VGG weights (needs {key} with {channels} values)")
        heads.append(tensor.float().reshape(1, channels, 1, 1))
    return heads


def _announce(description: str) -> None:
    if description not in _announced:
        _announced.add(description)
        log.warning("%s", description)


# A perceptual distance: ``features(images)`` once per target, ``distance(features_a, features_b)`` -> (B,).
Perceptual = LPIPS | StructuralLoss


def perceptual_loss(
    vgg_weights: str | os.PathLike | None = None,
    lpips_weights: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
) -> Perceptual:
    """The best perceptual distance available offline (see module docstring); ``.name`` says which.

    ``vgg_weights`` defaults to the torch hub cache; ``lpips_weights`` to ``lpips_vgg_v0.1.pth`` beside
    it. Files given explicitly must exist and be valid (one-line error otherwise); missing default
    files fall back quietly except for a single warning per process.
    """
    for given in (vgg_weights, lpips_weights):
        if given is not None and not Path(given).is_file():
            raise FileNotFoundError(f"{given}: weights file not found")
    vgg_path = Path(vgg_weights) if vgg_weights else hub_checkpoint_path(VGG16_FILE)
    if not vgg_path.is_file():
        _announce(
            f"no VGG16 weights at {vgg_path} (offline): inversion uses the ms-ssim+gradient loss instead of LPIPS"
        )
        return StructuralLoss().to(device)
    lpips_path = Path(lpips_weights) if lpips_weights else hub_checkpoint_path(LPIPS_FILE)
    heads = load_lpips_heads(lpips_path) if lpips_path.is_file() else None
    if heads is None:
        _announce(f"no LPIPS v0.1 heads at {lpips_path}: using LPIPS with uniform channel weights")
    return LPIPS(load_vgg16(vgg_path), heads).to(device)
