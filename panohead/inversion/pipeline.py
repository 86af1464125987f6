"""Both stages end to end: one or several portraits of a head in, tuned generator and latent out. An
encoder, when given, predicts the starting latent in one pass."""

from __future__ import annotations

import copy
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from panohead.generator import PanoHeadGenerator
from panohead.inversion.encoder import LatentEncoder, encode
from panohead.inversion.inputs import Portrait, target_tensor
from panohead.inversion.latent import latent_prior, optimise_latent
from panohead.inversion.objective import Reconstruction, render_view
from panohead.inversion.perceptual import Perceptual, perceptual_loss
from panohead.inversion.progress import ProgressCallback, cancelled
from panohead.inversion.pti import pivotal_tuning
from panohead.inversion.settings import InversionSettings
from panohead.latent_file import save_latent


@dataclass
class InversionResult:
    """What an inversion produced; ``generator`` renders ``ws`` as the portrait's head from any camera."""

    generator: PanoHeadGenerator  # tuned by PTI, or latent_generator when PTI did not run or did not improve; frozen
    latent_generator: (
        PanoHeadGenerator  # the original weights with stage 1's noise maps: what stage 1's latent goes with
    )
    ws: torch.Tensor  # (1, num_ws, w_dim)
    z: torch.Tensor | None  # (1, z_dim) when stage 1 optimised z
    labels: torch.Tensor  # (N, 25) cameras of the N portraits (refined when settings.refine_cameras)
    space: str
    loss_name: str  # which perceptual distance was used (see perceptual.py)
    latent_loss: float  # best stage-1 reconstruction loss
    pti_loss: float | None  # best stage-2 reconstruction loss (None when PTI did not run)
    cancelled: bool
    latent_preview: torch.Tensor  # (N, 3, R, R) stage 1's renders at the portraits' cameras
    preview: torch.Tensor  # (N, 3, R, R) the final renders there (stage 2's when it improved on stage 1)
    start_preview: torch.Tensor | None = None  # (N, 3, R, R) the encoder's prediction there, before any step
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def label(self) -> torch.Tensor:
        """(1, 25) the (first) portrait's camera: where the result is first seen from."""
        return self.labels[:1]

    @property
    def loss(self) -> float:
        return self.latent_loss if self.pti_loss is None else min(self.latent_loss, self.pti_loss)

    def save_latent(self, path: str | os.PathLike, source: str = "") -> None:
        """Write the latent file (:func:`panohead.latent_file.save_latent`): ws, the (first) portrait's
        camera ``label`` (1, 25), every portrait's ``cameras`` (N, 25), z when stage 1 optimised it, the
        latent space, the losses and ``source`` (the photos)."""
        extra = {"z": self.z} if self.z is not None else {}
        save_latent(
            path,
            self.ws,
            label=self.label,
            cameras=self.labels,
            space=self.space,
            loss_name=self.loss_name,
            source=source,
            latent_loss=self.latent_loss,
            pti_loss=math.nan if self.pti_loss is None else self.pti_loss,
            **extra,
        )

    def render(self, label: torch.Tensor, stage: str = "final") -> torch.Tensor:
        """Render the inverted head from cameras (B, 25) -> (B, 3, R, R); ``stage='latent'`` shows stage 1 alone."""
        generator = self.latent_generator if stage == "latent" else self.generator
        with torch.no_grad():
            ws = self.ws.expand(label.shape[0], -1, -1)
            return render_view(generator, ws, label.to(self.ws.device))


MAX_PORTRAITS = 8  # photos of one head inverted together; more add little and cost a render each per step


def portrait_list(portraits: Portrait | Sequence[Portrait]) -> list[Portrait]:
    """One portrait or 1 to :data:`MAX_PORTRAITS` of them, as a list."""
    portraits = [portraits] if isinstance(portraits, Portrait) else list(portraits)
    if not 1 <= len(portraits) <= MAX_PORTRAITS:
        raise ValueError(f"{len(portraits)} photos given: invert 1 to {MAX_PORTRAITS} photos of one head at a time")
    return portraits


def portrait_objective(
    generator: PanoHeadGenerator,
    portraits: Portrait | Sequence[Portrait],
    settings: InversionSettings,
    perceptual: Perceptual,
) -> tuple[torch.Tensor, Reconstruction]:
    """The portraits' cameras (N, 25) on the generator's device and the objective both stages minimise
    (the loss averaged over the N photos)."""
    device = generator.device
    portraits = portrait_list(portraits)
    labels = torch.stack([torch.as_tensor(p.label, dtype=torch.float32).reshape(-1) for p in portraits]).to(device)
    resolution = generator.config.image_resolution
    targets = torch.cat([target_tensor(p.crop, resolution, device) for p in portraits])
    return labels, Reconstruction(targets, perceptual, settings.l2_weight, settings.perceptual_weight)


def invert(
    generator: PanoHeadGenerator,
    portraits: Portrait | Sequence[Portrait],
    settings: InversionSettings = InversionSettings(),
    perceptual: Perceptual | None = None,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    encoder: LatentEncoder | None = None,
) -> InversionResult:
    """Stage 1 then (unless cancelled) stage 2 against one portrait or several of one head (a shared
    latent and tuned generator; with ``settings.refine_cameras`` each photo's camera is refined in
    stage 1); ``generator`` itself is never modified.

    ``encoder`` predicts the starting latent from the photos (the mean of its per-photo predictions);
    it needs the w or w+ space. ``perceptual`` defaults to :func:`perceptual_loss` (LPIPS if its weights
    are cached, else the fallback). Setting ``cancel`` stops at the next step and returns the best
    result so far.
    """
    device = generator.device
    working = copy.deepcopy(generator).eval().requires_grad_(False)
    perceptual = perceptual if perceptual is not None else perceptual_loss(device=device)
    labels, objective = portrait_objective(generator, portraits, settings, perceptual)

    start = start_preview = None
    if encoder is not None:
        start = encode(encoder, objective.target, labels).mean(dim=0, keepdim=True)
        with torch.no_grad():
            start_preview = render_view(working, start, labels)
    prior = latent_prior(working, labels[:1], settings.latent_samples, settings.seed)
    stage1 = optimise_latent(working, objective, labels, settings, prior, callback, cancel, start)
    labels = stage1.label
    result = InversionResult(
        generator=working,
        latent_generator=working,
        ws=stage1.ws,
        z=stage1.z,
        labels=labels,
        space=settings.space,
        loss_name=getattr(perceptual, "name", type(perceptual).__name__),
        latent_loss=stage1.best.value,
        pti_loss=None,
        cancelled=stage1.cancelled,
        latent_preview=stage1.preview,
        preview=stage1.preview,
        start_preview=start_preview,
        history={"latent": stage1.best.history},
    )
    if stage1.cancelled or settings.pti_steps == 0 or cancelled(cancel):
        result.cancelled = result.cancelled or cancelled(cancel)
        return result

    z_dim = generator.config.z_dim

    def sample_w(rng: torch.Generator) -> torch.Tensor:
        z = torch.randn(1, z_dim, generator=rng).to(device)
        with torch.no_grad():
            return working.mapping(z, labels[:1])[:, 0]

    stage2 = pivotal_tuning(working, stage1.ws, objective, labels, settings, sample_w, prior.w_spread, callback, cancel)
    result.history["pti"] = stage2.best.history
    result.cancelled = stage2.cancelled
    if stage2.best.value < stage1.best.value:
        result.generator, result.pti_loss, result.preview = stage2.generator, stage2.best.value, stage2.preview
    else:
        result.pti_loss = stage2.best.value
    return result
