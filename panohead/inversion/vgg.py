"""VGG16 convolutional features (Simonyan & Zisserman 2015), the backbone of the LPIPS distance.

Layer indices follow the standard ImageNet checkpoint (``vgg16-397923af.pth``, keys
``features.<i>.weight``/``bias``): 13 3x3 convolutions in five blocks, each followed by ReLU, with a
2x2 max-pool closing every block. LPIPS reads the last ReLU of each block.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from panohead.errors import one_line

# Output channels of each convolution; "M" closes a block with a max-pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# Channels of the five LPIPS taps: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
TAP_CHANNELS = (64, 128, 256, 512, 512)
VGG16_FILE = "vgg16-397923af.pth"
# ImageNet statistics the checkpoint was trained with (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """Images (B, 3, H, W) in [-1, 1] -> the five block outputs (B, C_k, H / 2**k, W / 2**k), k = 0..4."""

    mean: torch.Tensor  # (1, 3, 1, 1) ImageNet channel means and deviations, buffers
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        self.taps: list[int] = []
        for entry in VGG16_LAYOUT:
            if entry == "M":
                self.taps.append(len(layers) - 1)  # the ReLU just before the pool
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_channels, entry, 3, padding=1), nn.ReLU(inplace=False)]
                in_channels = entry
        self.features = nn.Sequential(*layers)
        mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((images + 1) / 2 - self.mean) / self.std
        outputs = []
        last_tap = self.taps[-1]
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
            if index == last_tap:
                break
        return outputs


def hub_checkpoint_path(name: str = VGG16_FILE) -> Path:
    """Where torch hub caches ``name``: ``$TORCH_HOME/hub/checkpoints`` or ``~/.cache/torch/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def load_vgg16(path: str | os.PathLike) -> VGG16Features:
    """A frozen :class:`VGG16Features` with the ImageNet weights from a plain state dict file.

    The classifier entries of a full VGG16 checkpoint are ignored. Raises a one-line ``ValueError``
    naming the file when it does not hold VGG16 convolution weights.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot read VGG16 weights ({one_line(error)[:120]})") from None
    model = VGG16Features()
    wanted = model.features.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a VGG16 state dict")
    found = {k[len("features.") :]: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}
    missing = sorted(set(wanted) - set(found))
    wrong = [k for k in wanted if k in found and tuple(found[k].shape) != tuple(wanted[k].shape)]
    if missing or wrong:
        raise ValueError(f"{path}: not a VGG16 state dict (missing {missing[:3]}, wrong shapes {wrong[:3]})")
    model.features.load_state_dict({k: found[k].float() for k in wanted})
    return model.eval().requires_grad_(False)


def downsample_for_vgg(images: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Area-downsample images larger than ``size`` (VGG features at 256 suffice and cost 4x less at 512)."""
    if images.shape[-1] <= size:
        return images
    return F.interpolate(images, size=(size, size), mode="area")
