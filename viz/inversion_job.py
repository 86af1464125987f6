"""One inversion as a background job, for the app's inversion panel.

Before any job, :class:`EncoderPreviewer` predicts the head in one forward pass of an encoder (the
panel runs it on its alignment thread), so the viewer shows it while the user decides to refine.

The panel runs an :class:`Inversion` as a :class:`viz.jobs.Job` (progress, cancel, outcome) and reads
its :attr:`Inversion.trace` every frame (loss curves, the newest preview). The worker opens its own
copy of the model, runs both stages, and writes the tuned generator, the latent (.npz, the format the
Latent panel reads) and the aligned crop into a new folder; the panel then points the viewer at them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from panohead.checkpoint import save_generator
from panohead.images import save_image, to_uint8
from panohead.inversion import (
    InversionSettings,
    InversionStep,
    Portrait,
    invert,
    perceptual_loss,
    target_tensor,
)
from panohead.inversion.encoder import LatentEncoder, encode, open_encoder
from panohead.inversion.estimate import estimate_time
from panohead.model_source import ModelSource
from viz.jobs import Job
from viz.models import open_model

ALIGNED = "aligned.png"  # the aligned crop the inversion fitted, beside generator.safetensors


STAGE_NAMES = {
    "loading": "opening the model",
    "latent": "stage 1: latent",
    "pti": "stage 2: pivotal tuning",
    "saving": "saving",
}


@dataclass(frozen=True)
class InversionOutputs:
    folder: Path
    generator: Path  # tuned generator, our .safetensors format
    latent: Path  # ws (+ label, losses) as .npz
    cancelled: bool
    latent_loss: float
    pti_loss: float | None
    loss_name: str


@dataclass(frozen=True)
class InversionTrace:
    """What the panel shows of an inversion besides its job's stage and fraction. The worker replaces it
    whole after each step, so the UI thread reads one consistent value without a lock."""

    losses: dict[str, tuple[float, ...]] = field(default_factory=lambda: {"latent": (), "pti": ()})
    best: float = float("nan")
    preview: np.ndarray | None = None  # (H, W, 3) uint8 render at the input camera
    preview_serial: int = 0  # increases with every new preview (texture uploads only on change)
    estimate: str = ""  # the whole run's expected duration, measured before stage 1 starts


@dataclass(frozen=True)
class EncoderPreview:
    """The encoder's head for one portrait: what the viewer shows before any refinement."""

    source: str  # the model it was predicted for
    key: tuple  # what it was predicted from (the panel's portrait, model and encoder choice)
    ws: torch.Tensor  # (1, num_ws, w_dim) on the CPU
    seconds: float  # the encoder's forward pass
    encoder: LatentEncoder  # the refinement starts from it
    origin: str  # the encoder's file, or "bundled with the model"


class EncoderPreviewer:
    """Predicts a portrait's w+ with the encoder of a model; keeps the encoder it opened for the next
    photo. Called on one worker thread at a time (the panel's alignment thread)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._opened: tuple[str, str | None, int, LatentEncoder | None, str] | None = None

    def __call__(self, source: str, encoder_path: str | None, portrait: Portrait, key: tuple) -> EncoderPreview | None:
        """The preview, or None when the model has no encoder (none picked, and not the bundled model
        with its shipped one); one-line errors (a missing file, an encoder of another model) raise."""
        bundled = ModelSource.parse(source).kind == "bundled"
        if encoder_path is None and not bundled:
            return None
        if self._opened is None or self._opened[:2] != (source, encoder_path):
            generator, _ = open_model(source, self.device)
            encoder, origin = open_encoder(generator, encoder_path, bundled, self.device)
            self._opened = (source, encoder_path, generator.config.image_resolution, encoder, origin)
        _, _, resolution, encoder, origin = self._opened
        if encoder is None:
            return None
        photo = target_tensor(portrait.crop, resolution, self.device)
        camera = torch.as_tensor(portrait.label, dtype=torch.float32).reshape(1, -1)
        start = time.perf_counter()
        ws = encode(encoder, photo, camera).cpu()  # .cpu() waits for the device: the time is the whole pass
        return EncoderPreview(source, key, ws, time.perf_counter() - start, encoder, origin)


class Inversion:
    """The work of one inversion, run as a :class:`viz.jobs.Job` (``Job.start(name, Inversion(...))``):
    opens its own copy of the model, estimates the run's duration, runs both stages, writes the results
    and returns where they are. The job's message and fraction follow the stages; :attr:`trace` holds
    the rest the panel shows."""

    def __init__(
        self,
        source: str,
        device: torch.device,
        portraits: Sequence[Portrait],
        settings: InversionSettings,
        folder: Path,
        encoder: LatentEncoder | None = None,
    ) -> None:
        """``portraits``: 1 to 8 photos of one head, inverted jointly; ``encoder``: start stage 1 from its
        prediction (``settings.space`` must be w or w+)."""
        self.source, self.device, self.settings, self.folder = source, device, settings, folder
        self.portraits = list(portraits)
        self.encoder = encoder
        self.trace = InversionTrace()

    def __call__(self, job: Job[InversionOutputs]) -> InversionOutputs:
        """Cancelling the job stops the stages at their next step; the best result so far is still saved."""
        job.report(0.0, STAGE_NAMES["loading"])
        generator, model = open_model(self.source, self.device)
        perceptual = perceptual_loss(device=generator.device)
        estimate = estimate_time(generator, self.portraits, self.settings, perceptual)
        self.trace = replace(self.trace, estimate=estimate.describe(generator.device.type))
        job.report(0.0, eta=estimate.total)
        result = invert(
            generator,
            self.portraits,
            self.settings,
            perceptual,
            lambda step: self._step(job, step),
            job.cancel_event,
            self.encoder,
        )
        self._show(to_uint8(result.preview[0]))
        job.report(1.0, STAGE_NAMES["saving"])
        self.folder.mkdir(parents=True, exist_ok=True)
        outputs = InversionOutputs(
            self.folder,
            self.folder / "generator.safetensors",
            self.folder / "latent.npz",
            result.cancelled,
            result.latent_loss,
            result.pti_loss,
            result.loss_name,
        )
        # Tuned around one photo, it still only knows what its base model learnt from.
        save_generator(
            outputs.generator,
            result.generator,
            extra={"base_model": self.source, "training_data": model.training_data or ""},
        )
        result.save_latent(outputs.latent, source=self.source)
        for index, portrait in enumerate(self.portraits):  # aligned.png, then aligned_2.png, ...
            aligned = target_tensor(portrait.crop, generator.config.image_resolution)
            name = ALIGNED if index == 0 else ALIGNED.replace(".png", f"_{index + 1}.png")
            save_image(self.folder / name, to_uint8(aligned[0]))
        return outputs

    def _step(self, job: Job[InversionOutputs], step: InversionStep) -> None:
        trace = self.trace
        losses = {**trace.losses, step.stage: (*trace.losses[step.stage], step.losses["loss"])}
        self.trace = replace(trace, losses=losses, best=step.best)
        if step.preview is not None:
            self._show(step.preview)
        job.report(step.step / step.total, f"{STAGE_NAMES[step.stage]}  {step.step}/{step.total}")

    def _show(self, preview: np.ndarray) -> None:
        self.trace = replace(self.trace, preview=preview, preview_serial=self.trace.preview_serial + 1)
