"""The foreground-aware tri-discriminator (PanoHead Sec. 3.3): a camera-conditioned StyleGAN2 ResNet D.

It sees 7 channels per sample, all at the output resolution R:

    I+            the super-resolved image                         (3, R, R)
    up(I)         the raw neural image, bilinearly upsampled        (3, n, n) -> (3, R, R)
    2 up(I_m) - 1 the foreground mask, upsampled and put in [-1, 1] (1, n, n) -> (1, R, R)

The raw image makes super-resolution stay consistent with the 3D rendering (EG3D's dual
discrimination); the mask makes the density field separate the head from the background, which
the background network can then fill freely (the paper's foreground-aware discrimination).
The camera label is mapped to an embedding that is projected onto the final features (conditional
projection discriminator), so D judges "a plausible image *from this camera*".

The layout follows the official ``MaskDualDiscriminatorV2`` so its weights map by name:
``blocks.{res}.{fromrgb,conv0,conv1,skip}`` <- ``b{res}.*``, ``epilogue.{conv,fc,out}`` <- ``b4.*``,
``mapping.embed`` / ``mapping.layers.{i}`` <- ``mapping.embed`` / ``mapping.fc{i}``
(our mapping network also carries an unused ``w_avg`` buffer).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from panohead.nn.layers import EqualConv2d, EqualLinear
from panohead.nn.mapping import MappingNetwork
from panohead.nn.resample import gaussian_blur
from panohead.nn.synthesis import channels_for
from panohead.numbers import field_problems
from panohead.untrusted import parse_json

RESIDUAL_GAIN = math.sqrt(0.5)  # the two branches of a residual block are summed at unit variance


# Inclusive bounds (see panohead.config.LIMITS): a config read from a file cannot describe a huge network.
DISCRIMINATOR_LIMITS = {
    "resolution": (8, 4096),
    "c_dim": (1, 1024),
    "channel_base": (1, 2**20),
    "channel_max": (1, 4096),
    "mapping_layers": (0, 32),
    "conv_clamp": (1e-6, 1e6),
    "mbstd_group": (1, 1024),
    "mbstd_channels": (0, 64),
}


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Architecture of the tri-discriminator; defaults are the official 512x512 PanoHead D."""

    resolution: int = 512
    c_dim: int = 25
    channel_base: int = 32768
    channel_max: int = 512
    mapping_layers: int = 8
    conv_clamp: float | None = 256.0
    mbstd_group: int = 4
    mbstd_channels: int = 1
    # False drops the mask channel (a 6-channel dual discriminator, for the ablation).
    mask_channel: bool = True

    def __post_init__(self) -> None:
        problems = field_problems(self, DISCRIMINATOR_LIMITS)
        if problems:
            raise ValueError("invalid discriminator config: " + "; ".join(problems))
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"discriminator resolution must be a power of two >= 8, got {self.resolution}")

    @property
    def input_channels(self) -> int:
        return 7 if self.mask_channel else 6

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DiscriminatorConfig:
        values = parse_json(text)
        if not isinstance(values, dict):
            raise ValueError("a discriminator config must be a JSON object")
        return cls(**values)


class DiscriminatorBlock(nn.Module):
    """One resolution of the ResNet D: (from-RGB on the first block) conv3x3, conv3x3 + 2x down, 1x1 down skip."""

    def __init__(
        self, in_channels: int, tmp_channels: int, out_channels: int, image_channels: int, conv_clamp: float | None
    ) -> None:
        super().__init__()
        self.fromrgb = EqualConv2d(image_channels, tmp_channels, 1, conv_clamp=conv_clamp) if in_channels == 0 else None
        self.conv0 = EqualConv2d(tmp_channels, tmp_channels, 3, conv_clamp=conv_clamp)
        self.conv1 = EqualConv2d(tmp_channels, out_channels, 3, down=True, conv_clamp=conv_clamp)
        self.skip = EqualConv2d(tmp_channels, out_channels, 1, activation="linear", bias=False, down=True)

    def forward(self, x: torch.Tensor | None, image: torch.Tensor) -> torch.Tensor:
        """(B, C, r, r) features (None for the first block) -> (B, C', r/2, r/2)."""
        if self.fromrgb is not None:
            x = self.fromrgb(image)
        residual = self.skip(x, gain=RESIDUAL_GAIN)
        x = self.conv1(self.conv0(x), gain=RESIDUAL_GAIN)
        return residual + x


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int = 1) -> torch.Tensor:
    """Append the standard deviation across groups of samples as extra channels: (B, C, H, W) -> (B, C + F, H, W).

    Sample i belongs to group i mod (B / G) (the official strided grouping); the std is averaged over
    channels and pixels, so D can detect a generator whose samples all look alike.
    """
    batch, channels, height, width = x.shape
    group = min(group_size, batch)
    if batch % group:
        raise ValueError(f"batch of {batch} is not divisible by the minibatch-stddev group size {group}")
    y = x.reshape(group, -1, num_channels, channels // num_channels, height, width)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=(2, 3, 4)).reshape(-1, num_channels, 1, 1).repeat(group, 1, height, width)
    return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 features -> minibatch stddev -> conv -> fc -> projection onto the camera embedding -> (B, 1)."""

    def __init__(
        self, in_channels: int, cmap_dim: int, group_size: int, mbstd_channels: int, conv_clamp: float | None
    ) -> None:
        super().__init__()
        self.group_size, self.mbstd_channels, self.cmap_dim = group_size, mbstd_channels, cmap_dim
        self.conv = EqualConv2d(in_channels + mbstd_channels, in_channels, 3, conv_clamp=conv_clamp)
        self.fc = EqualLinear(in_channels * 16, in_channels, activation="lrelu")
        self.out = EqualLinear(in_channels, cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor) -> torch.Tensor:
        if self.mbstd_channels > 0:
            x = minibatch_stddev(x, self.group_size, self.mbstd_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        # Projection conditioning: the logit is the (scaled) inner product with the camera embedding.
        return (x * cmap.to(x.dtype)).sum(dim=1, keepdim=True) / np.sqrt(self.cmap_dim)


class TriDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.resolutions = [2**i for i in range(int(np.log2(cfg.resolution)), 2, -1)]
        width = lambda res: channels_for(res, cfg.channel_base, cfg.channel_max)  # noqa: E731
        self.blocks = nn.ModuleDict(
            {
                str(res): DiscriminatorBlock(
                    0 if res == cfg.resolution else width(res),
                    width(res),
                    width(res // 2),
                    cfg.input_channels,
                    cfg.conv_clamp,
                )
                for res in self.resolutions
            }
        )
        cmap_dim = width(4)
        self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, num_ws=1, num_layers=cfg.mapping_layers)
        self.epilogue = DiscriminatorEpilogue(width(4), cmap_dim, cfg.mbstd_group, cfg.mbstd_channels, cfg.conv_clamp)
        self.memory_format = torch.contiguous_format

    def use_channels_last(self) -> TriDiscriminator:
        """Feed the convolutions channels-last activations (faster tensor-core convs on GPU).

        The weights keep the default layout, so optimisers and gradient all-reduces see plain tensors;
        cuDNN picks the channels-last kernels from the input's layout.
        """
        self.memory_format = torch.channels_last
        return self

    def inputs(
        self, image: torch.Tensor, image_raw: torch.Tensor, mask: torch.Tensor | None, blur_sigma: float = 0.0
    ) -> torch.Tensor:
        """Stack the discriminator's input channels (B, 7 or 6, R, R); ``mask`` (B, 1, n, n) in [0, 1].

        ``blur_sigma`` blurs I+ (EG3D's fading blur); the raw image is upsampled with the
        antialiased bilinear filter the official code uses.
        """
        size = image.shape[-1]
        resize = lambda t: F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)  # noqa: E731
        parts = [gaussian_blur(image, blur_sigma) if blur_sigma > 0 else image, resize(image_raw)]
        if self.config.mask_channel:
            parts.append(resize(mask) * 2 - 1)
        return torch.cat(parts, dim=1).contiguous(memory_format=self.memory_format)

    def forward(
        self,
        image: torch.Tensor,
        image_raw: torch.Tensor,
        mask: torch.Tensor | None,
        c: torch.Tensor,
        blur_sigma: float = 0.0,
    ) -> torch.Tensor:
        """I+ (B, 3, R, R), I (B, 3, n, n), I_m (B, 1, n, n) in [0, 1], camera (B, 25) -> logits (B, 1)."""
        stacked = self.inputs(image, image_raw, mask, blur_sigma)
        x = None
        for block in self.blocks.values():
            x = block(x, stacked)
        cmap = self.mapping(None, c)[:, 0]
        return self.epilogue(x, cmap).float()
