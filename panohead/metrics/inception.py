"""Inception-v3 as used by FID: the TensorFlow 2015-12-05 graph, with the parameter names of the
PyTorch port ``pt_inception-2015-12-05-6726825d.pth`` (a plain state dict, 1008 classes, no aux head).

Facts this layout follows (Szegedy et al. 2016, and the FID port's published key names): every conv is
a ``BasicConv2d`` = conv (no bias) + batch norm (eps 1e-3) + ReLU; the blocks are named
``Conv2d_1a_3x3 ... Mixed_7c`` and ``fc``. The TF graph differs from the ImageNet-torch model in the
pooling branches: average pools exclude the zero padding, and the last block (Mixed_7c) max-pools.

Input: uint8 images (B, 3, H, W). They are scaled to [0, 1], resized bilinearly to 299 x 299 and
mapped to [-1, 1], as the FID port does. Output: the 2048-d pool features (FID, KID) and the logits
pool @ fc.weight^T without the bias, over which the Inception Score's softmax is taken (as in the
original Inception Score code, which multiplies the pool features by the softmax weights only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 0.001) -> ReLU; ``kernel``/``padding`` as int or (h, w)."""

    def __init__(self, in_channels: int, out_channels: int, kernel, stride: int = 1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def average_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average that, like TensorFlow's, ignores the zero padding at the borders."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1 (``pool_features`` wide)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(average_pool(x)),
            ],
            dim=1,
        )


class ReductionB(nn.Module):
    """35 -> 17 reduction: stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            dim=1,
        )


class BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 and 7x1), ``width`` channels inside."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        row, column = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, width, 1)
        self.branch7x7_2 = BasicConv2d(width, width, row[0], padding=row[1])
        self.branch7x7_3 = BasicConv2d(width, 192, column[0], padding=column[1])
        self.branch7x7dbl_1 = BasicConv2d(in_channels, width, 1)
        self.branch7x7dbl_2 = BasicConv2d(width, width, column[0], padding=column[1])
        self.branch7x7dbl_3 = BasicConv2d(width, width, row[0], padding=row[1])
        self.branch7x7dbl_4 = BasicConv2d(width, width, column[0], padding=column[1])
        self.branch7x7dbl_5 = BasicConv2d(width, 192, row[0], padding=row[1])
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(average_pool(x)),
            ],
            dim=1,
        )


class ReductionD(nn.Module):
    """17 -> 8 reduction: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | stride-2 max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tower = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            tower = layer(tower)
        return torch.cat(
            [
                self.branch3x3_2(self.branch3x3_1(x)),
                tower,
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            dim=1,
        )


class BlockE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs; the pool branch averages (7b) or max-pools (7c, TF graph)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else average_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            dim=1,
        )


class InceptionV3(nn.Module):
    """The FID Inception network: uint8 (B, 3, H, W) -> pool features (B, 2048), logits (B, 1008)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.to(self.fc.weight.dtype) / 255.0
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        pool = x.mean(dim=(2, 3))
        return pool, pool @ self.fc.weight.T


def load_inception(path, device: torch.device | str = "cpu") -> InceptionV3:
    """The FID Inception with the weights in ``path`` (a plain state dict, loaded without running code).

    Raises ValueError naming the file when it is not the FID Inception state dict.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which one
        raise ValueError(
            f"{path}: not a readable PyTorch state dict ({type(error).__name__}); expected {FID_WEIGHTS_FILE}"
        ) from None
    model = InceptionV3()
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    for name, buffer in model.state_dict().items():  # older ports omit the batch-norm step counters
        if name.endswith("num_batches_tracked"):
            state.setdefault(name, buffer)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"wrong shape for {wrong[:3]}"
        )
        raise ValueError(f"{path}: not the FID Inception-v3 state dict {FID_WEIGHTS_FILE} ({detail})")
    model.load_state_dict(state)
    return model.eval().requires_grad_(False).to(device)
