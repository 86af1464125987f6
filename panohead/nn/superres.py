"""Super-resolution: StyleGAN2 blocks conditioned on w lift the composed neural image to full size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from panohead.nn.layers import NoiseMode
from panohead.nn.synthesis import SynthesisBlock


class SuperResolution(nn.Module):
    """Resize the 32-channel feature image and raw RGB to ``input_resolution``, then upsample 2x per block.

    Every block is modulated by the last w (as in EG3D's dual-discriminated super-resolution), so the
    high-resolution detail follows the same latent as the 3D head. With ``upsample_first=False`` the
    first block refines at the input resolution (EG3D's 2X and 4X modules).
    """

    def __init__(
        self,
        feature_channels: int,
        w_dim: int,
        input_resolution: int,
        channels: tuple[int, ...],
        conv_clamp: float | None = 256.0,
        antialias: bool = True,
        upsample_first: bool = True,
        noise_mode: NoiseMode = "none",
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.antialias = antialias
        self.noise_mode = noise_mode
        blocks = []
        in_channels, resolution = feature_channels, input_resolution
        for index, out_channels in enumerate(channels):
            up = upsample_first or index > 0
            resolution *= 2 if up else 1
            blocks.append(SynthesisBlock(in_channels, out_channels, w_dim, resolution, 3, conv_clamp, up=up))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.output_resolution = resolution

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.input_resolution:
            return x
        return F.interpolate(
            x,
            size=(self.input_resolution, self.input_resolution),
            mode="bilinear",
            align_corners=False,
            antialias=self.antialias,
        )

    def forward(
        self, rgb: torch.Tensor, features: torch.Tensor, ws: torch.Tensor, noise_mode: NoiseMode | None = None
    ) -> torch.Tensor:
        """rgb (B, 3, r, r), features (B, C, r, r), ws (B, *, w_dim) -> (B, 3, R, R).

        ``noise_mode`` defaults to the model's (the official ``superresolution_noise_mode``).
        """
        w_last = ws[:, -1:].expand(-1, 3, -1)
        x, img = self._resize(features), self._resize(rgb)
        for block in self.blocks:
            x, img = block(x, img, w_last, noise_mode or self.noise_mode)
        return img
