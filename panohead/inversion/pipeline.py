"""Both stages end to end: portrait in, tuned generator and latent out, plus the latent file format."""

from __future__ import annotations

import copy
import io
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from panohead.atomic import write_bytes_atomic
from panohead.errors import one_line
from panohead.inversion.inputs import Portrait, target_tensor
from panohead.inversion.latent import latent_prior, optimise_latent
from panohead.inversion.objective import Reconstruction, render_view
from panohead.inversion.perceptual import perceptual_loss
from panohead.inversion.progress import ProgressCallback, cancelled
from panohead.inversion.pti import pivotal_tuning
from panohead.inversion.settings import InversionSettings


@dataclass
class InversionResult:
    """What an inversion produced; ``generator`` renders ``ws`` as the portrait's head from any camera."""

    generator: nn.Module  # tuned by PTI, or latent_generator when PTI did not run or did not improve; frozen
    latent_generator: nn.Module  # the original weights with stage 1's noise maps: what stage 1's latent goes with
    ws: torch.Tensor  # (1, num_ws, w_dim)
    z: torch.Tensor | None  # (1, z_dim) when stage 1 optimised z
    label: torch.Tensor  # (1, 25) camera of the portrait
    space: str
    loss_name: str  # which perceptual distance was used (see perceptual.py)
    latent_loss: float  # best stage-1 reconstruction loss
    pti_loss: float | None  # best stage-2 reconstruction loss (None when PTI did not run)
    cancelled: bool
    latent_preview: torch.Tensor  # (1, 3, R, R) stage 1's render at the portrait's camera
    preview: torch.Tensor  # (1, 3, R, R) the final render there (stage 2's when it improved on stage 1)
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return self.latent_loss if self.pti_loss is None else min(self.latent_loss, self.pti_loss)

    def render(self, label: torch.Tensor, stage: str = "final") -> torch.Tensor:
        """Render the inverted head from cameras (B, 25) -> (B, 3, R, R); ``stage='latent'`` shows stage 1 alone."""
        generator = self.latent_generator if stage == "latent" else self.generator
        with torch.no_grad():
            ws = self.ws.expand(label.shape[0], -1, -1)
            return render_view(generator, ws, label.to(self.ws.device))


def portrait_objective(
    generator: nn.Module, portrait: Portrait, settings: InversionSettings, perceptual: nn.Module
) -> tuple[torch.Tensor, Reconstruction]:
    """The portrait's camera (1, 25) on the generator's device and the objective both stages minimise."""
    device = generator.device
    label = torch.as_tensor(portrait.label, dtype=torch.float32, device=device).reshape(1, -1)
    target = target_tensor(portrait.crop, generator.config.image_resolution, device)
    return label, Reconstruction(target, perceptual, settings.l2_weight, settings.perceptual_weight)


def invert(
    generator: nn.Module,
    portrait: Portrait,
    settings: InversionSettings = InversionSettings(),
    perceptual: nn.Module | None = None,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> InversionResult:
    """Stage 1 then (unless cancelled) stage 2 against ``portrait``; ``generator`` itself is never modified.

    ``perceptual`` defaults to :func:`perceptual_loss` (LPIPS if its weights are cached, else the
    fallback). Setting ``cancel`` stops at the next step and returns the best result so far.
    """
    device = generator.device
    working = copy.deepcopy(generator).eval().requires_grad_(False)
    perceptual = perceptual if perceptual is not None else perceptual_loss(device=device)
    label, objective = portrait_objective(generator, portrait, settings, perceptual)

    prior = latent_prior(working, label, settings.latent_samples, settings.seed)
    stage1 = optimise_latent(working, objective, label, settings, prior, callback, cancel)
    result = InversionResult(
        generator=working,
        latent_generator=working,
        ws=stage1.ws,
        z=stage1.z,
        label=label,
        space=settings.space,
        loss_name=getattr(perceptual, "name", type(perceptual).__name__),
        latent_loss=stage1.best.value,
        pti_loss=None,
        cancelled=stage1.cancelled,
        latent_preview=stage1.preview,
        preview=stage1.preview,
        history={"latent": stage1.best.history},
    )
    if stage1.cancelled or settings.pti_steps == 0 or cancelled(cancel):
        result.cancelled = result.cancelled or cancelled(cancel)
        return result

    z_dim = generator.config.z_dim

    def sample_w(rng: torch.Generator) -> torch.Tensor:
        z = torch.randn(1, z_dim, generator=rng).to(device)
        with torch.no_grad():
            return working.mapping(z, label)[:, 0]

    stage2 = pivotal_tuning(working, stage1.ws, objective, label, settings, sample_w, prior.w_spread, callback, cancel)
    result.history["pti"] = stage2.best.history
    result.cancelled = stage2.cancelled
    if stage2.best.value < stage1.best.value:
        result.generator, result.pti_loss, result.preview = stage2.generator, stage2.best.value, stage2.preview
    else:
        result.pti_loss = stage2.best.value
    return result


def save_latent(path: str | os.PathLike, result: InversionResult, source: str = "") -> None:
    """Write the result's latent as ``.npz`` atomically, in the layout the visualizer's latent files use.

    Arrays: ``ws`` (1, num_ws, w_dim), ``label`` (1, 25), ``z`` (1, z_dim) when stage 1 optimised z, and
    0-d ``space``, ``loss_name``, ``source``, ``latent_loss``, ``pti_loss`` (NaN without PTI).
    """
    if Path(path).suffix.lower() != ".npz":
        raise ValueError(f"{path}: latent files are written as .npz")
    arrays = {
        "ws": result.ws.detach().float().cpu().numpy(),
        "label": result.label.detach().float().cpu().numpy(),
        "space": np.array(result.space),
        "loss_name": np.array(result.loss_name),
        "source": np.array(source),
        "latent_loss": np.array(result.latent_loss),
        "pti_loss": np.array(math.nan if result.pti_loss is None else result.pti_loss),
    }
    if result.z is not None:
        arrays["z"] = result.z.detach().float().cpu().numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_latent(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a latent file written by :func:`save_latent`; a one-line error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: latent file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz latent ({one_line(error)})") from None
    if "ws" not in arrays or arrays["ws"].ndim != 3:
        raise ValueError(f"{path}: no (1, num_ws, w_dim) 'ws' array in this latent file")
    return arrays
