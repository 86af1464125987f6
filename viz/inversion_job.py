"""One inversion running on its own thread, for the app's inversion panel.

Before any job, :class:`EncoderPreviewer` predicts the head in one forward pass of an encoder (the
panel runs it on its alignment thread), so the viewer shows it while the user decides to refine.

The UI thread starts a job, reads :meth:`InversionJob.status` every frame (a copy taken under a
lock: progress, loss curves, the newest preview) and may cancel it. The worker opens its own copy of
the model, runs both stages, and writes the tuned generator, the latent (.npz, the format the Latent
panel reads) and the aligned crop into a new folder; the panel then points the viewer at them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from panohead.checkpoint import save_generator
from panohead.errors import USER_ERRORS, one_line
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
from viz.models import open_model

log = logging.getLogger(__name__)
ALIGNED = "aligned.png"  # the aligned crop the inversion fitted, beside generator.safetensors


@dataclass(frozen=True)
class JobOutputs:
    folder: Path
    generator: Path  # tuned generator, our .safetensors format
    latent: Path  # ws (+ label, losses) as .npz
    cancelled: bool
    latent_loss: float
    pti_loss: float | None
    loss_name: str


@dataclass
class JobStatus:
    """What the panel shows; a snapshot, safe to read on the UI thread."""

    stage: str = "loading"  # "loading", "latent", "pti", "saving", "done", "failed"
    step: int = 0
    total: int = 0
    losses: dict[str, list[float]] = field(default_factory=lambda: {"latent": [], "pti": []})
    best: float = float("nan")
    preview: np.ndarray | None = None  # (H, W, 3) uint8 render at the input camera
    preview_serial: int = 0  # increases with every new preview (texture uploads only on change)
    outputs: JobOutputs | None = None
    error: str | None = None
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


class InversionJob:
    def __init__(
        self,
        source: str,
        device: torch.device,
        portraits: Sequence[Portrait],
        settings: InversionSettings,
        folder: Path,
        on_update: Callable[[], None] = lambda: None,
        encoder: LatentEncoder | None = None,
    ) -> None:
        """``portraits``: 1 to 8 photos of one head, inverted jointly; ``encoder``: start stage 1 from its
        prediction (``settings.space`` must be w or w+)."""
        self.source, self.device, self.settings, self.folder = source, device, settings, folder
        self.portraits = list(portraits)
        self.encoder = encoder
        self.cancel = threading.Event()
        self.on_update = on_update  # called on the worker thread after each change (wakes the UI loop)
        self._lock = threading.Lock()
        self._status = JobStatus()
        self._thread = threading.Thread(target=self._run, name="panohead-inversion", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> JobStatus:
        with self._lock:
            s = self._status
            return JobStatus(
                s.stage,
                s.step,
                s.total,
                {k: list(v) for k, v in s.losses.items()},
                s.best,
                s.preview,
                s.preview_serial,
                s.outputs,
                s.error,
                s.estimate,
            )

    def stop(self) -> None:
        """Ask the worker to stop at its next step; it still saves the best result so far."""
        self.cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _update(self, preview: np.ndarray | None = None, **changes) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self._status, name, value)
            if preview is not None:
                self._status.preview, self._status.preview_serial = preview, self._status.preview_serial + 1
        self.on_update()

    def _progress(self, progress: InversionStep) -> None:
        with self._lock:
            s = self._status
            s.stage, s.step, s.total, s.best = progress.stage, progress.step, progress.total, progress.best
            s.losses[progress.stage].append(progress.losses["loss"])
        self._update(progress.preview)

    def _run(self) -> None:
        try:
            generator, model = open_model(self.source, self.device)
            perceptual = perceptual_loss(device=generator.device)
            estimate = estimate_time(generator, self.portraits, self.settings, perceptual)
            self._update(estimate=estimate.describe(generator.device.type))
            result = invert(
                generator, self.portraits, self.settings, perceptual, self._progress, self.cancel, self.encoder
            )
            self._update(to_uint8(result.preview[0]), stage="saving")
            self.folder.mkdir(parents=True, exist_ok=True)
            outputs = JobOutputs(
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
            self._update(stage="done", outputs=outputs)
        except USER_ERRORS as error:
            self._update(stage="failed", error=one_line(error))
        except Exception as error:  # a bug: report it in the panel, keep the app alive
            log.exception("inversion failed")
            self._update(stage="failed", error=f"internal error: {type(error).__name__}: {one_line(error)}")
