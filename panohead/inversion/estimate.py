"""How long an inversion will take on its device, measured before it starts.

The estimate runs the engine's own stages (:func:`optimise_latent`, :func:`pivotal_tuning`) for a
few steps and times the steps after the first: the first step of a stage pays one-off costs
(allocations, cuDNN algorithm search) that the run amortises. The steps run on the generator itself,
not on a copy (a copy of the paper model is GPU memory the run then lacks): stage 1 changes only the
latent and the noise maps, which are put back afterwards, and the tuning steps run in place at a
zero learning rate, so the weights end as they began. The generator's gradient flags and mode are
restored, and so is the global random state, so an inversion started after an estimate gives
exactly the result it gives without one. On CUDA with graphs the timed steps are eager warm-up
steps, which are slower than the replayed ones, so there the estimate errs long.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from panohead.generator import PanoHeadGenerator
from panohead.inversion.inputs import Portrait
from panohead.inversion.latent import LatentPrior, latent_prior, noise_layers, optimise_latent
from panohead.inversion.objective import Reconstruction
from panohead.inversion.perceptual import Perceptual
from panohead.inversion.pipeline import portrait_objective
from panohead.inversion.progress import InversionStep
from panohead.inversion.pti import pivotal_tuning
from panohead.inversion.settings import InversionSettings

PRIOR_SAMPLES = 256  # the latent prior is timed on this many samples and scaled to settings.latent_samples


@dataclass(frozen=True)
class TimeEstimate:
    """Measured seconds per step of each stage, and the whole inversion's expected duration."""

    steps: int
    pti_steps: int
    latent_step: float  # seconds per stage-1 step
    pti_step: float  # seconds per PTI step, regularised and plain steps weighted by their cadence
    setup: float  # seconds for the latent prior (random latents mapped once before stage 1)

    @property
    def total(self) -> float:
        return self.setup + self.steps * self.latent_step + self.pti_steps * self.pti_step

    def describe(self, device_type: str) -> str:
        """One line, e.g. 'about 6.5 min on cpu: 100 latent steps (~2.1 s each) + 50 tuning steps (~3.2 s each)'."""
        parts = [
            f"{count} {name} steps (~{_seconds(each)} each)"
            for count, name, each in (
                (self.steps, "latent", self.latent_step),
                (self.pti_steps, "tuning", self.pti_step),
            )
            if count
        ]
        return f"about {_duration(self.total)} on {device_type}: {' + '.join(parts)}"


def estimate_time(
    generator: PanoHeadGenerator,
    portrait: Portrait | Sequence[Portrait],
    settings: InversionSettings,
    perceptual: Perceptual,
) -> TimeEstimate:
    """Time real steps of both stages on ``generator`` (two latent steps, three PTI steps unless
    ``settings.pti_steps`` is 0).

    ``perceptual`` is the distance the run will use; ``generator`` and the global random state are
    left as they were, but while it runs no other thread may use ``generator`` (its noise maps and
    gradient flags change during the steps).
    """
    device = generator.device
    label, objective = portrait_objective(generator, portrait, settings, perceptual)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _borrowed(generator) as working:
        samples = min(PRIOR_SAMPLES, settings.latent_samples)
        began = time.perf_counter()
        prior = latent_prior(working, label[:1], samples, settings.seed)
        setup = (time.perf_counter() - began) * settings.latent_samples / samples
        latent = _Stopwatch()
        stage1 = optimise_latent(working, objective, label, settings.replace(steps=2), prior, latent)
        pti_step = _tuning_step(working, stage1.ws, objective, label, settings, prior) if settings.pti_steps else 0.0
    return TimeEstimate(settings.steps, settings.pti_steps, latent.laps[0], pti_step, setup)


def _tuning_step(
    generator: PanoHeadGenerator,
    pivot: torch.Tensor,
    objective: Reconstruction,
    label: torch.Tensor,
    settings: InversionSettings,
    prior: LatentPrior,
) -> float:
    """Seconds per PTI step from three real ones (regularised, plain, regularised; the first pays the
    stage's one-off costs), the regularised steps weighted by their cadence ``settings.locality_every``."""
    regularised = settings.locality_weight > 0
    tuning = _Stopwatch()
    pivotal_tuning(
        generator,
        pivot,
        objective,
        label,
        settings.replace(pti_steps=3, locality_every=2 if regularised else 1, pti_lr=0.0),
        lambda rng: prior.w_avg,
        prior.w_spread,
        tuning,
        in_place=True,
    )
    plain, with_locality = tuning.laps
    if not regularised:
        return (plain + with_locality) / 2
    return (with_locality + (settings.locality_every - 1) * plain) / settings.locality_every


@contextlib.contextmanager
def _borrowed(generator: PanoHeadGenerator) -> Iterator[PanoHeadGenerator]:
    """``generator`` frozen and in eval mode while inside; afterwards its noise maps (which stage 1
    replaces), its parameters' ``requires_grad`` flags and gradients, and its mode are as they were."""
    parameters = list(generator.parameters())
    flags, grads = [p.requires_grad for p in parameters], [p.grad for p in parameters]
    noise = [(layer, layer.noise_const) for layer in noise_layers(generator)]
    training = generator.training
    try:
        yield generator.eval().requires_grad_(False)
    finally:
        for parameter, flag, grad in zip(parameters, flags, grads, strict=True):
            parameter.requires_grad_(flag)
            parameter.grad = grad
        for layer, value in noise:
            layer.noise_const = value
        generator.train(training)


class _Stopwatch:
    """A progress callback that records the seconds between consecutive steps (``laps``)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.laps: list[float] = []

    def __call__(self, progress: InversionStep) -> None:
        now = time.perf_counter()  # the stage read the step's losses back first, so the device is done
        if self.last is not None:
            self.laps.append(now - self.last)
        self.last = now


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 0.1 else f"{value:.1f} s"


def _duration(value: float) -> str:
    if value < 10:
        return f"{value:.1f} s"
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"
