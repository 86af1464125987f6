"""What an inversion reports while it runs, and how a caller stops it."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class InversionStep:
    """One optimisation step of a stage ('latent' or 'pti'); ``preview`` is an (H, W, 3) uint8 render
    at the input view every ``preview_every`` steps (and at a stage's last step), else None."""

    stage: str
    step: int
    total: int
    losses: dict[str, float]
    best: float
    preview: np.ndarray | None = None


ProgressCallback = Callable[[InversionStep], None]


@dataclass
class BestTracker:
    """Remembers the lowest reconstruction loss seen and whether the latest step improved it."""

    value: float = math.inf
    step: int = 0
    history: list[float] = field(default_factory=list)

    def update(self, loss: float, step: int) -> bool:
        self.history.append(loss)
        if loss < self.value:
            self.value, self.step = loss, step
            return True
        return False


def cancelled(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()


def learning_rate(step: int, total: int, base: float, rampup: float, rampdown: float) -> float:
    """Warm-up then cosine ramp-down: linear from 0 over the first ``rampup`` fraction of the steps,
    flat, then a half-cosine to 0 over the last ``rampdown`` fraction (``step`` counts from 0)."""
    t = step / max(total, 1)
    scale = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    scale = 0.5 - 0.5 * math.cos(scale * math.pi)
    if rampup > 0:
        scale *= min(1.0, (step + 1) / max(total * rampup, 1.0))
    return base * scale
