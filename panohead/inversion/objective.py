"""The reconstruction objective shared by both stages: pixel L2 plus a perceptual distance."""

from __future__ import annotations

import torch

from panohead.generator import PanoHeadGenerator
from panohead.inversion.perceptual import Perceptual


def render_view(generator: PanoHeadGenerator, ws: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """ws (B, num_ws, w_dim), label (B, 25) -> image (B, 3, R, R), background synthesised from ``ws``.

    One latent (1, num_ws, w_dim) seen from B cameras (several photos of one head) synthesises its
    tri-grid and background once and shares them across the views.
    """
    planes = generator.synthesize_planes(ws)
    views = label.shape[0]
    if ws.shape[0] == 1 and views > 1:
        background = generator.synthesize_background(ws)
        expand = lambda t: t.expand(views, *t.shape[1:])  # noqa: E731
        background = None if background is None else expand(background)
        return generator.render(expand(planes), expand(ws), label, background=background)["image"]
    return generator.render(planes, ws, label)["image"]


class Reconstruction:
    """l2_weight * MSE + perceptual_weight * perceptual distance to one target (1, 3, R, R) in [-1, 1].

    The target's perceptual features are computed once; calls return the differentiable total and its
    detached parts {"l2": .., "perceptual": ..} for reporting.
    """

    def __init__(
        self, target: torch.Tensor, perceptual: Perceptual, l2_weight: float = 1.0, perceptual_weight: float = 1.0
    ) -> None:
        self.target = target
        self.perceptual = perceptual
        self.l2_weight, self.perceptual_weight = l2_weight, perceptual_weight
        with torch.no_grad():
            self.target_features = perceptual.features(target)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        l2 = (image - self.target).square().mean()
        perceptual = self.perceptual.distance(self.perceptual.features(image), self.target_features).mean()
        return self.l2_weight * l2 + self.perceptual_weight * perceptual, {
            "l2": l2.detach(),
            "perceptual": perceptual.detach(),
        }


def pair_distance(
    perceptual: Perceptual, a: torch.Tensor, b: torch.Tensor, l2_weight: float = 1.0, perceptual_weight: float = 1.0
) -> torch.Tensor:
    """The same objective between two image batches (B, 3, R, R), averaged over the batch."""
    return l2_weight * (a - b).square().mean() + perceptual_weight * perceptual(a, b).mean()
