"""Every knob of an inversion, with defaults for the paper-sized model at 512x512."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, get_args

from panohead.precision import OPTIMISATION, OptimisationPrecision, Precision

Space = Literal["z", "w", "w+"]  # the latent optimised in stage 1
SPACES: tuple[Space, ...] = get_args(Space)


# Steps per stage by device: the paper's 500 + 350 on a GPU; fewer on a CPU, where a step of the
# bundled model takes about a second (the CLI and the app both start from these).
DEFAULT_STEPS = {"cuda": (500, 350), "cpu": (100, 50)}
# From an encoder's prediction the latent starts near the answer: far fewer steps refine it (w+ space).
ENCODER_STEPS = {"cuda": (100, 150), "cpu": (30, 30)}


def default_steps(device_type: str, encoder: bool = False) -> tuple[int, int]:
    """(latent steps, PTI steps) suited to a device type ('cuda', 'cpu', ...), fewer from an encoder's start."""
    table = ENCODER_STEPS if encoder else DEFAULT_STEPS
    return table.get(device_type, table["cpu"])


@dataclass(frozen=True)
class InversionSettings:
    """Stage 1 (latent optimisation) and stage 2 (pivotal tuning) hyper-parameters.

    Stage 1 follows the StyleGAN2 projector recipe (Karras et al. 2020, Appendix D): Adam with a
    warm-up and cosine ramp-down of the learning rate, Gaussian noise on the latent that fades out over
    the first ``latent_noise_ramp`` of the steps, and a penalty on spatial autocorrelation of the
    per-layer noise maps so they cannot smuggle the image in. Stage 2 is PTI (Roich et al. 2022).
    """

    space: Space = "z"  # the paper optimises z; "w" (one w for all layers) and "w+" (one per layer) are options
    steps: int = 500
    pti_steps: int = 350
    # Stage 1.
    lr: float = 0.05
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    latent_noise: float = (
        0.05  # initial per-element latent noise std, in units of the RMS distance of random latents from their mean
    )
    latent_noise_ramp: float = 0.75
    optimize_noise: bool = True
    # Several photos of one head: refine each photo's camera (yaw and pitch, at most 15 degrees) with the latent.
    refine_cameras: bool = False
    camera_lr: float = 0.005  # radians per unit step of Adam, before the learning-rate schedule
    noise_regularize: float = 1e5
    latent_samples: int = 10000  # random latents used to find the mean latent and its spread
    # Loss, both stages: l2_weight * mean squared pixel error + perceptual_weight * perceptual distance.
    l2_weight: float = 1.0
    perceptual_weight: float = 1.0
    # Stage 2.
    pti_lr: float = 3e-4
    locality_weight: float = 0.1
    locality_distance: float = 1.0  # how far from the pivot regulariser latents lie, in latent spreads
    # The regulariser on every 4th step: its extra renders made a PTI step 2x as expensive, and this
    # cadence brings 500 + 350 paper-model steps under a minute on an H100 (docs/performance.md).
    locality_every: int = 4
    # A panohead.precision name out of OPTIMISATION: "tf32", TF32 tensor cores for CUDA matmuls and
    # convolutions (a CPU has none: there it is fp32). No bf16: on an H100 it was slower than TF32 for
    # the paper model and diverged on small ones (docs/inversion.md).
    precision: OptimisationPrecision = "tf32"
    # Replay each stage's step from a CUDA graph after a few eager steps (CUDA only; falls back to
    # eager steps if capture fails). Removes the launch overhead that dominates at batch 1.
    cuda_graphs: bool = True
    # Reporting.
    preview_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"latent space {self.space!r}: choose one of {', '.join(SPACES)}")
        Precision.parse(self.precision, OPTIMISATION)  # refused by name if it is not one of them
        for name in ("steps", "pti_steps", "latent_samples", "preview_every", "locality_every"):
            minimum = 0 if name in ("steps", "pti_steps") else 1
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} = {getattr(self, name)}: must be at least {minimum}")
        if self.steps == 0 and self.space == "z" and self.pti_steps == 0:
            raise ValueError("steps and pti_steps are both 0: nothing to optimise")

    def replace(self, **changes) -> InversionSettings:
        return dataclasses.replace(self, **changes)
