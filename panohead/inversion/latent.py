"""Stage 1: find the latent (z, w or w+) whose render at the estimated camera matches the portrait.

The generator is not changed except for its per-layer constant noise maps, which are optimised
alongside the latent (and regularised) when ``optimize_noise`` is set; the caller passes a private
copy of the generator for that reason.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from panohead.images import to_uint8
from panohead.inversion.objective import Reconstruction, precision_context, render_view
from panohead.inversion.progress import BestTracker, Progress, ProgressCallback, cancelled, learning_rate
from panohead.inversion.settings import InversionSettings
from panohead.nn.layers import ModulatedConv


@dataclass
class LatentPrior:
    """Statistics of random latents under the target's conditioning camera.

    ``w_avg`` (1, w_dim) is the mean head; ``z_init`` (1, z_dim) the random z whose w lies nearest to
    it; ``w_spread`` / ``z_spread`` the RMS distance of a random w / z from its mean, which scales the
    latent noise and the PTI regulariser's sampling radius.
    """

    w_avg: torch.Tensor
    w_spread: float
    z_init: torch.Tensor
    z_spread: float


@dataclass
class LatentResult:
    ws: torch.Tensor  # (1, num_ws, w_dim) best latent, detached
    z: torch.Tensor | None  # (1, z_dim) when optimising z
    best: BestTracker
    cancelled: bool
    preview: torch.Tensor  # (1, 3, R, R) render at the best latent


def latent_prior(generator: nn.Module, label: torch.Tensor, samples: int, seed: int) -> LatentPrior:
    """Map ``samples`` seeded random z conditioned on ``label`` (1, 25) and summarise them."""
    cfg = generator.config
    zs = torch.randn(samples, cfg.z_dim, generator=torch.Generator().manual_seed(seed)).to(label.device)
    with torch.no_grad():
        ws = torch.cat([generator.mapping(chunk, label.expand(chunk.shape[0], -1))[:, 0] for chunk in zs.split(2048)])
    w_avg = ws.mean(dim=0, keepdim=True)
    nearest = (ws - w_avg).square().sum(dim=1).argmin()
    return LatentPrior(
        w_avg=w_avg,
        w_spread=float((ws - w_avg).square().sum(dim=1).mean().sqrt()),
        z_init=zs[nearest: nearest + 1].clone(),
        z_spread=float((zs - zs.mean(dim=0)).square().sum(dim=1).mean().sqrt()),
    )


def noise_layers(generator: nn.Module) -> list[ModulatedConv]:
    """Layers whose constant noise map shapes the head or its background (super-resolution uses none)."""
    parts = [generator.synthesis] + ([generator.background] if generator.background is not None else [])
    return [m for part in parts for m in part.modules() if isinstance(m, ModulatedConv)]


def noise_autocorrelation(maps: list[torch.Tensor]) -> torch.Tensor:
    """Squared one-pixel autocorrelations of each noise map (H, W) at every dyadic scale down to 8x8.

    Independent unit Gaussian noise has none, so this keeps the maps noise-like instead of letting them
    encode image structure (StyleGAN2 projector's noise regulariser).
    """
    total = torch.zeros((), device=maps[0].device)
    for noise in maps:
        x = noise[None, None]
        while True:
            total = total + (x * x.roll(1, dims=3)).mean().square() + (x * x.roll(1, dims=2)).mean().square()
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


def _normalise_(maps: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for noise in maps:
            noise.sub_(noise.mean()).mul_(noise.square().mean().rsqrt())


def optimise_latent(generator: nn.Module, objective: Reconstruction, label: torch.Tensor, settings: InversionSettings,
                    prior: LatentPrior, callback: ProgressCallback | None = None,
                    cancel: threading.Event | None = None) -> LatentResult:
    """Run stage 1 for ``settings.steps`` steps (or until ``cancel`` is set) and keep the best step.

    ``label`` (1, 25) is both the conditioning and the rendering camera. On return the generator's
    noise maps hold the values of the best step, as plain buffers again.
    """
    num_ws = generator.num_ws
    if settings.space == "z":
        latent = prior.z_init.clone()
        spread = prior.z_spread
        to_ws = lambda x: generator.mapping(x, label)  # noqa: E731
    else:
        latent = prior.w_avg[:, None].repeat(1, num_ws if settings.space == "w+" else 1, 1)
        spread = prior.w_spread
        to_ws = lambda x: x.expand(-1, num_ws, -1)  # noqa: E731
    latent.requires_grad_(True)

    layers = noise_layers(generator) if settings.optimize_noise else []
    maps = [layer.noise_const.detach().clone().requires_grad_(True) for layer in layers]
    for layer, noise in zip(layers, maps):
        layer.noise_const = noise
    optimizer = torch.optim.Adam([latent] + maps, lr=settings.lr, betas=(0.9, 0.999))

    rng = torch.Generator().manual_seed(settings.seed)
    best = BestTracker()
    best_latent, best_maps = latent.detach().clone(), [m.detach().clone() for m in maps]
    stopped = False
    for step in range(settings.steps):
        if cancelled(cancel):
            stopped = True
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, settings.steps, settings.lr, settings.lr_rampup, settings.lr_rampdown)
        fade = max(0.0, 1.0 - step / max(settings.latent_noise_ramp * settings.steps, 1e-8)) ** 2
        noisy = latent + torch.randn(latent.shape, generator=rng).to(latent.device) * spread * settings.latent_noise * fade
        with precision_context(settings.precision, label.device):
            image = render_view(generator, to_ws(noisy), label)
            reconstruction, parts = objective(image)
        regulariser = noise_autocorrelation(maps) if maps else torch.zeros((), device=image.device)
        loss = reconstruction + settings.noise_regularize * regulariser
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(reconstruction.detach())
        if best.update(value, step + 1):
            best_latent, best_maps = noisy.detach().clone(), [m.detach().clone() for m in maps]
        optimizer.step()
        _normalise_(maps)
        if callback is not None:
            last = step + 1 == settings.steps
            preview = to_uint8(image[0]) if last or (step + 1) % settings.preview_every == 0 else None
            losses = {"loss": value, "l2": float(parts["l2"]), "perceptual": float(parts["perceptual"]),
                      "noise_reg": float(regulariser.detach())}
            callback(Progress("latent", step + 1, settings.steps, losses, best.value, preview))

    for layer, noise in zip(layers, best_maps):
        layer.noise_const = noise
    with torch.no_grad():
        ws = to_ws(best_latent).detach().clone()
        preview = render_view(generator, ws, label)
    if best.step == 0:
        best.update(float(objective(preview)[0]), 0)
    return LatentResult(ws=ws, z=best_latent if settings.space == "z" else None, best=best, cancelled=stopped,
                        preview=preview)
