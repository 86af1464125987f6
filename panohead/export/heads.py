"""A generated head as the exporters need it: its ws, tri-grid and background, computed once."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.nn.layers import NoiseMode
from panohead.views.camera import orbit_camera


@dataclass(frozen=True)
class Head:
    """Everything after the mapping network, so meshes and videos never re-run the backbone.

    ``ws`` (1, num_ws, w_dim); ``planes`` the tri-grid (1, 3, C, D, H, W); ``background`` the
    background feature image (1, C, Rb, Rb), or None for a model without a background network.
    """

    ws: torch.Tensor
    planes: torch.Tensor
    background: torch.Tensor | None


@torch.no_grad()
def synthesize_head(
    generator: PanoHeadGenerator,
    ws: torch.Tensor,
    noise_mode: NoiseMode = "const",
    background_ws: torch.Tensor | None = None,
) -> Head:
    """Run the tri-grid and background networks for ws (1, num_ws, w_dim); the background uses
    ``background_ws`` (1, Nb, w_dim) when given (another seed, style mixing), else the head's ws."""
    background = generator.synthesize_background(ws if background_ws is None else background_ws, noise_mode)
    return Head(ws, generator.synthesize_planes(ws, noise_mode), background)


@torch.no_grad()
def head_from_seed(generator: PanoHeadGenerator, seed: int, psi: float = 0.7) -> Head:
    """The head of ``seed`` at truncation ``psi``, conditioned on the frontal camera like ``panohead generate``."""
    cfg = generator.config
    device = generator.device
    frontal = orbit_camera(0.0, 0.0, generator)
    return synthesize_head(generator, generator.mapping(seed_latent(seed, cfg.z_dim, device), frontal, psi=psi))
