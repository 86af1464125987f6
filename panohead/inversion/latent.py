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

from panohead.generator import PanoHeadGenerator
from panohead.images import to_uint8
from panohead.inversion.cameras import CameraRefinement
from panohead.inversion.objective import Reconstruction, render_view
from panohead.inversion.progress import BestTracker, InversionStep, ProgressCallback, cancelled, learning_rate
from panohead.inversion.settings import InversionSettings
from panohead.inversion.steps import CapturedStep
from panohead.nn.layers import ModulatedConv
from panohead.precision import Precision


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
    preview: torch.Tensor  # (N, 3, R, R) renders at the best latent, one per photo camera
    label: torch.Tensor  # (N, 25) the photo cameras of the best step (refined or as given)


def latent_prior(generator: PanoHeadGenerator, label: torch.Tensor, samples: int, seed: int) -> LatentPrior:
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
        z_init=zs[nearest : nearest + 1].clone(),
        z_spread=float((zs - zs.mean(dim=0)).square().sum(dim=1).mean().sqrt()),
    )


def noise_layers(generator: PanoHeadGenerator) -> list[ModulatedConv]:
    """Layers whose constant noise map shapes the head or its background (super-resolution uses none)."""
    parts = [generator.synthesis] + ([generator.background] if generator.background is not None else [])
    return [m for part in parts for m in part.modules() if isinstance(m, ModulatedConv)]


def _by_size(maps: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Maps grouped by shape, so each scale is one batched operation instead of one per layer."""
    groups: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for noise in maps:
        groups.setdefault(tuple(noise.shape), []).append(noise)
    return list(groups.values())


def noise_autocorrelation(maps: list[torch.Tensor]) -> torch.Tensor:
    """Sum over noise maps (H, W) and their dyadic scales down to 8x8 of squared one-pixel autocorrelations.

    Independent unit Gaussian noise has none, so this keeps the maps noise-like instead of letting them
    encode image structure (StyleGAN2 projector's noise regulariser).
    """
    total = torch.zeros((), device=maps[0].device)
    for group in _by_size(maps):
        x = torch.stack(group)[:, None]  # (N, 1, H, W)
        while True:
            for dim in (2, 3):
                total = total + (x * x.roll(1, dims=dim)).mean(dim=(1, 2, 3)).square().sum()
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


def _normalise_(maps: list[torch.Tensor]) -> None:
    """Zero mean and unit variance per map, in place."""
    with torch.no_grad():
        for group in _by_size(maps):
            x = torch.stack(group)
            x = x - x.mean(dim=(1, 2), keepdim=True)
            x = x * x.square().mean(dim=(1, 2), keepdim=True).rsqrt()
            torch._foreach_copy_(group, list(x.unbind(0)))


class LatentStep:
    """One stage-1 step on static tensors (see :mod:`panohead.inversion.steps`).

    Inputs: ``noise`` (latent-shaped: this step's latent noise) and the learning rate (:meth:`set_lr`).
    Outputs: ``losses`` (4,) = reconstruction, l2, perceptual, noise regulariser; ``image`` (N, 3, R, R),
    one render per photo camera; ``rendered``, ``rendered_maps`` and ``rendered_label``: the latent, noise
    maps and cameras (N, 25) as this step rendered them, before the update (what is kept if the step
    turns out the best). With ``cameras`` the photo cameras are refined too (at ``camera_lr`` relative
    to the latent's learning rate).
    """

    def __init__(
        self,
        generator: PanoHeadGenerator,
        objective: Reconstruction,
        label: torch.Tensor,
        settings: InversionSettings,
        latent: torch.Tensor,
        to_ws,
        maps: list[torch.Tensor],
        capturable: bool,
        cameras: CameraRefinement | None = None,
    ) -> None:
        self.generator, self.objective, self.label, self.settings = generator, objective, label, settings
        self.latent, self.to_ws, self.maps, self.cameras = latent, to_ws, maps, cameras
        device = label.device
        groups = [{"params": [latent] + maps, "scale": 1.0}]
        if cameras is not None:
            groups.append({"params": [cameras.angles], "scale": settings.camera_lr / settings.lr})
        for group in groups:
            lr = settings.lr * group["scale"]
            group["lr"] = torch.tensor(lr, device=device) if capturable else lr
        self.optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999), capturable=capturable)
        resolution = generator.config.image_resolution
        self.noise = torch.zeros_like(latent)
        self.losses = torch.zeros(4, device=device)
        self.image = torch.zeros(label.shape[0], 3, resolution, resolution, device=device)
        self.rendered = torch.zeros_like(latent)
        self.rendered_maps = [torch.zeros_like(m) for m in maps]
        self.rendered_label = label.clone()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr * group["scale"])
            else:
                group["lr"] = lr * group["scale"]

    def prepare(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def __call__(self) -> None:
        noisy = self.latent + self.noise
        label = self.label if self.cameras is None else self.cameras()
        with Precision.parse(self.settings.precision).scope(self.label.device):
            image = render_view(self.generator, self.to_ws(noisy), label)
            reconstruction, parts = self.objective(image)
        regulariser = noise_autocorrelation(self.maps) if self.maps else torch.zeros((), device=image.device)
        (reconstruction + self.settings.noise_regularize * regulariser).backward()
        with torch.no_grad():
            self.losses.copy_(
                torch.stack([reconstruction.detach(), parts["l2"], parts["perceptual"], regulariser.detach()]).float()
            )
            self.image.copy_(image.detach())
            self.rendered.copy_(noisy.detach())
            self.rendered_label.copy_(label.detach())
            if self.maps:
                torch._foreach_copy_(self.rendered_maps, [m.detach() for m in self.maps])
        self.optimizer.step()
        _normalise_(self.maps)
        if self.cameras is not None:
            self.cameras.clamp_()


def optimise_latent(
    generator: PanoHeadGenerator,
    objective: Reconstruction,
    label: torch.Tensor,
    settings: InversionSettings,
    prior: LatentPrior,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    start: torch.Tensor | None = None,
) -> LatentResult:
    """Run stage 1 for ``settings.steps`` steps (or until ``cancel`` is set) and keep the best step.

    ``label`` (N, 25) holds the rendering cameras of the N photos (refined when
    ``settings.refine_cameras``); the first is the conditioning camera. ``start`` (1, num_ws, w_dim),
    e.g. an encoder's prediction, replaces the prior's mean as the w / w+ starting point (its mean
    over layers for "w"). On return the generator's noise maps hold the values of the best step, as
    plain buffers again.
    """
    num_ws = generator.num_ws
    if settings.space == "z":
        if start is not None:
            raise ValueError("a start latent (from an encoder) needs the w or w+ space, not z")
        latent = prior.z_init.clone()
        spread = prior.z_spread
        to_ws = lambda x: generator.mapping(x, label[:1])  # noqa: E731
    else:
        origin = prior.w_avg[:, None].repeat(1, num_ws, 1) if start is None else start.detach().clone()
        latent = origin if settings.space == "w+" else origin.mean(dim=1, keepdim=True)
        spread = prior.w_spread
        to_ws = lambda x: x.expand(-1, num_ws, -1)  # noqa: E731
    latent.requires_grad_(True)
    cameras = CameraRefinement(label, generator.config.look_at) if settings.refine_cameras else None

    layers = noise_layers(generator) if settings.optimize_noise else []
    maps = [layer.noise_const.detach().clone().requires_grad_(True) for layer in layers]
    for layer, noise in zip(layers, maps, strict=True):
        layer.noise_const = noise
    step_fn = LatentStep(
        generator,
        objective,
        label,
        settings,
        latent,
        to_ws,
        maps,
        capturable=settings.cuda_graphs and label.device.type == "cuda",
        cameras=cameras,
    )
    run_step = CapturedStep(step_fn, step_fn.prepare, label.device, settings.cuda_graphs)

    rng = torch.Generator().manual_seed(settings.seed)
    best = BestTracker()
    best_latent, best_maps = latent.detach().clone(), [m.detach().clone() for m in maps]
    best_label = label.clone()
    stopped = False
    for step in range(settings.steps):
        if cancelled(cancel):
            stopped = True
            break
        step_fn.set_lr(learning_rate(step, settings.steps, settings.lr, settings.lr_rampup, settings.lr_rampdown))
        fade = max(0.0, 1.0 - step / max(settings.latent_noise_ramp * settings.steps, 1e-8)) ** 2
        step_fn.noise.copy_(torch.randn(latent.shape, generator=rng) * (spread * settings.latent_noise * fade))
        run_step()
        reconstruction, l2, perceptual, regulariser = step_fn.losses.tolist()
        if best.update(reconstruction, step + 1):
            best_latent, best_maps = step_fn.rendered.clone(), [m.clone() for m in step_fn.rendered_maps]
            best_label = step_fn.rendered_label.clone()
        if callback is not None:
            last = step + 1 == settings.steps
            preview = to_uint8(step_fn.image[0]) if last or (step + 1) % settings.preview_every == 0 else None
            losses = {"loss": reconstruction, "l2": l2, "perceptual": perceptual, "noise_reg": regulariser}
            callback(InversionStep("latent", step + 1, settings.steps, losses, best.value, preview))

    for layer, noise in zip(layers, best_maps, strict=True):
        layer.noise_const = noise.detach()
    with torch.no_grad():
        ws = to_ws(best_latent).detach().clone()
        preview = render_view(generator, ws, best_label)
    if best.step == 0:
        best.update(float(objective(preview)[0]), 0)
    return LatentResult(
        ws=ws,
        z=best_latent if settings.space == "z" else None,
        best=best,
        cancelled=stopped,
        preview=preview,
        label=best_label,
    )
