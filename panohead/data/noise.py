"""Solid (3D) value noise for the synthetic heads' textures: skin blotches and pores, freckles,
stubble, iris fibres and hair strands.

One fixed volume of uniform random values (seeded, made on the CPU so every device sees the same
numbers) is sampled trilinearly with ``grid_sample``; coordinates pass through a triangle wave, so the
noise tiles without seams and any point in space has a value. Each head shifts its lookups by its own
offset, so two heads get different patterns from the one volume.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from panohead.data.sdf import Vec

CELLS = 32
_VOLUMES: dict[torch.device, torch.Tensor] = {}


def _volume(device: torch.device) -> torch.Tensor:
    """(1, 1, CELLS, CELLS, CELLS) values in [0, 1], the same on every device."""
    if device not in _VOLUMES:
        generator = torch.Generator().manual_seed(19)
        _VOLUMES[device] = torch.rand(1, 1, CELLS, CELLS, CELLS, generator=generator).to(device)
    return _VOLUMES[device]


def _fold(x: torch.Tensor) -> torch.Tensor:
    """Triangle wave of period 2 into [-1, 1]: continuous, so the folded lookups have no seams."""
    return (torch.remainder(x + 1.0, 2.0) - 1.0).abs() * 2.0 - 1.0


def value_noise(p: Vec, cell: Vec | float) -> torch.Tensor:
    """(N,) noise in [0, 1] at points ``p`` with features about ``cell`` units apart (per axis if a Vec).

    Trilinear value noise has mean 0.5 and a standard deviation near 0.12.
    """
    scale = 2.0 / (CELLS - 1)
    q = p / cell * scale
    grid = torch.stack([_fold(q.x), _fold(q.y), _fold(q.z)], dim=-1).reshape(1, -1, 1, 1, 3)
    volume = _volume(grid.device)
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True).reshape(-1)
