"""8-bit block codes for the tensors a compact snapshot carries in fewer than 16 bits per value.

Each tensor is flattened and cut into blocks of :data:`BLOCK` consecutive values (the last one
shorter); every block has its own range, so a few large values only coarsen their own block.

* :func:`encode_linear8`: signed values around zero whose absolute error matters (the trained
  generator's difference from its moving average). ``value = code * scale`` with int8 codes in [-127, 127] and
  a bfloat16 scale per block of at least max|value| / 127: the error is at most half a scale, i.e.
  1/254 of the block's largest magnitude (x 1.008 for the scale's rounding up).
* :func:`encode_log8`: non-negative values spread over many decades (Adam's second moment, whose
  square root divides every step). Code 0 is an exact zero; code k >= 1 is ``2 ** (lo + (k - 1) *
  step)`` with a bfloat16 ``lo`` (at most the block's smallest log2) and ``step`` per block: the
  relative error is at most ``2 ** (step / 2) - 1``, step = log2(max / min) / 254 of the block, so
  about 2**-9 per decade the block spans (measured on the medium run's state: 0.3% mean, 2.1% at
  most in sqrt(v), the quantity Adam divides by).

Codes are chosen against the rounded per-block numbers that are stored, so decoding reproduces exactly
what the encoder measured its error against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 256
LEVELS = 254  # log8: codes 1..255 cover lo .. lo + LEVELS * step


def _blocks(values: torch.Tensor) -> torch.Tensor:
    """(ceil(n / BLOCK), BLOCK) float32 view of the flattened values, zero-padded."""
    flat = values.detach().float().flatten()
    return F.pad(flat, (0, -flat.numel() % BLOCK)).view(-1, BLOCK)


def _bfloat16(values: torch.Tensor, direction: float) -> torch.Tensor:
    """``values`` rounded to bfloat16 towards ``direction`` (+inf: never below, -inf: never above)."""
    rounded = values.to(torch.bfloat16)
    wrong = rounded.float() < values if direction > 0 else rounded.float() > values
    return torch.where(wrong, torch.nextafter(rounded, torch.full_like(rounded, direction)), rounded)


def encode_linear8(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 codes of the values' shape, bfloat16 scales (blocks,)) of a float tensor."""
    blocks = _blocks(values)
    scales = _bfloat16(blocks.abs().amax(dim=1) / 127, float("inf"))
    divisor = scales.float()[:, None]
    codes = torch.where(divisor > 0, blocks / divisor.clamp_min(torch.finfo(torch.float32).tiny), 0.0)
    return codes.round().clamp(-127, 127).to(torch.int8).flatten()[: values.numel()].view(values.shape), scales


def decode_linear8(codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """The float32 tensor that :func:`encode_linear8` coded as ``codes`` and ``scales``."""
    return (_blocks(codes) * scales.float()[:, None]).flatten()[: codes.numel()].view(codes.shape)


def encode_log8(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(uint8 codes of the values' shape, bfloat16 lo (blocks,), bfloat16 step (blocks,)) of a
    non-negative tensor."""
    blocks = _blocks(values)
    positive = blocks > 0
    logs = torch.log2(torch.where(positive, blocks, 1.0))
    any_positive = positive.any(dim=1)
    low = torch.where(positive, logs, float("inf")).amin(dim=1)
    high = torch.where(positive, logs, -float("inf")).amax(dim=1)
    low = _bfloat16(torch.where(any_positive, low, 0.0), -float("inf"))
    high = torch.where(any_positive, high, low.float())
    step = _bfloat16((high - low.float()) / LEVELS, float("inf"))
    offset = logs - low.float()[:, None]
    divisor = step.float()[:, None]
    level = torch.where(divisor > 0, offset / divisor.clamp_min(torch.finfo(torch.float32).tiny), 0.0)
    codes = torch.where(positive, level.round().clamp(0, LEVELS) + 1, 0.0)
    return codes.to(torch.uint8).flatten()[: values.numel()].view(values.shape), low, step


def decode_log8(codes: torch.Tensor, low: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """The float32 tensor that :func:`encode_log8` coded as ``codes``, ``low`` and ``step``."""
    blocks = _blocks(codes)
    values = torch.exp2(low.float()[:, None] + (blocks - 1) * step.float()[:, None])
    return torch.where(blocks > 0, values, 0.0).flatten()[: codes.numel()].view(codes.shape)
