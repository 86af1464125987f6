"""StyleGAN2 synthesis network (skip architecture) used for the tri-grid and the background."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from panohead.nn.layers import ModulatedConv, ModulatedToRGB, NoiseMode
from panohead.nn.resample import upsample_2x


class SynthesisBlock(nn.Module):
    """One resolution: (const or 2x-upsampling conv) + conv, with a to-RGB skip output.

    The first block (``in_channels == 0``) starts from a learned 4x4 constant. With ``up=False`` the
    block keeps its input resolution (EG3D's 2X/4X super-resolution starts with such a block).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        conv_clamp: float | None = None,
        up: bool = True,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = up
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = ModulatedConv(in_channels, out_channels, w_dim, resolution, up=up, conv_clamp=conv_clamp)
        self.conv1 = ModulatedConv(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ModulatedToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: NoiseMode = "const"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws`` (B, num_conv + 1, w_dim): one w per conv and one for to-RGB."""
        if self.conv0 is None:
            hidden = self.conv1(self.const[None].expand(ws.shape[0], -1, -1, -1), ws[:, 0], noise_mode)
        else:
            hidden = self.conv1(self.conv0(x, ws[:, 0], noise_mode), ws[:, 1], noise_mode)
        rgb = self.torgb(hidden, ws[:, self.num_conv]).to(torch.float32)
        return hidden, rgb if img is None else (upsample_2x(img) if self.up else img) + rgb


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(nn.Module):
    """Blocks from 4x4 to ``resolution``; consecutive blocks share the w at their boundary.

    Block i consumes ws[offset : offset + num_conv + 1] and advances by num_conv, so the to-RGB of
    one block and the first conv of the next read the same w (StyleGAN2's layout).
    """

    def __init__(
        self,
        w_dim: int,
        resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.resolutions = [2**i for i in range(2, int(np.log2(resolution)) + 1)]
        self.blocks = nn.ModuleDict()
        in_channels = 0
        for res in self.resolutions:
            out_channels = channels_for(res, channel_base, channel_max)
            self.blocks[str(res)] = SynthesisBlock(in_channels, out_channels, w_dim, res, img_channels, conv_clamp)
            in_channels = out_channels
        self.num_ws = sum(block.num_conv for block in self.block_list()) + 1

    def block_list(self) -> list[SynthesisBlock]:
        """The blocks from 4x4 up, typed (``blocks`` is a ModuleDict so checkpoints name them by resolution)."""
        blocks = []
        for block in self.blocks.values():
            assert isinstance(block, SynthesisBlock)
            blocks.append(block)
        return blocks

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """(B, num_ws, w_dim) -> (B, img_channels, resolution, resolution)."""
        if ws.shape[1] < self.num_ws:
            # Shorter w sequences (e.g. the head's ws feeding the background) repeat their last w.
            ws = torch.cat([ws, ws[:, -1:].expand(-1, self.num_ws - ws.shape[1], -1)], dim=1)
        x = img = None
        offset = 0
        for block in self.block_list():
            x, img = block(x, img, ws[:, offset : offset + block.num_conv + 1], noise_mode)
            offset += block.num_conv
        assert img is not None  # the 4x4 block always runs
        return img
