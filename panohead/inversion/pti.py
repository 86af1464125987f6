"""Stage 2, pivotal tuning (PTI, Roich et al. 2022): fine-tune the generator around the fixed latent.

The latent found by stage 1 (the "pivot") stays fixed while the generator's weights move so that its
render at the input camera matches the portrait. A locality regulariser keeps the rest of latent
space where it was: latents a fixed distance from the pivot towards random samples must render as
the original generator rendered them. We render those at random yaw angles around the whole orbit,
so the regulariser also guards the sides and back of other heads, which one frontal photo never sees.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from panohead.generator import PanoHeadGenerator
from panohead.images import to_uint8
from panohead.inversion.objective import Reconstruction, pair_distance, render_view
from panohead.inversion.progress import BestTracker, InversionStep, ProgressCallback, cancelled
from panohead.inversion.settings import InversionSettings
from panohead.inversion.steps import CapturedStep
from panohead.precision import Precision
from panohead.views.camera import orbit_camera

# Modules tuned by PTI; the mapping and camera networks only act before the (fixed) pivot w.
TUNED_MODULES = ("synthesis", "decoder", "raw_to_rgb", "background", "superres")


@dataclass
class TuningResult:
    generator: PanoHeadGenerator  # the tuned copy at its best step, frozen
    best: BestTracker
    cancelled: bool
    preview: torch.Tensor  # (N, 3, R, R) renders of the pivot by the tuned generator at the photo cameras


def tuned_parameters(generator: PanoHeadGenerator) -> list[nn.Parameter]:
    return [
        p
        for name in TUNED_MODULES
        if getattr(generator, name) is not None
        for p in getattr(generator, name).parameters()
    ]


def locality_latent(pivot: torch.Tensor, random_w: torch.Tensor, distance: float) -> torch.Tensor:
    """The point ``distance`` away from ``pivot`` (1, num_ws, w_dim) in the direction of ``random_w`` (1, w_dim).

    Distance is measured per w (the Frobenius norm over layers divided by sqrt(num_ws)), so "w" and
    "w+" pivots use the same scale as the prior's spread.
    """
    direction = random_w[:, None] - pivot
    per_w_norm = direction.norm() / math.sqrt(pivot.shape[1])
    return pivot + direction * (distance / per_w_norm.clamp_min(1e-8))


class TuningStep:
    """One PTI step on static tensors (see :mod:`panohead.inversion.steps`).

    Inputs: ``nearby`` (1, num_ws, w_dim) and ``camera`` (1, 25), the regulariser's latent and view for
    this step (unused when ``regularise`` is False). Outputs: ``losses`` (4,) = reconstruction, l2,
    perceptual, locality; ``image`` (N, 3, R, R) at the N photo cameras; ``before``: the tuned weights
    this step rendered with, before the update (what is kept if the step turns out the best).
    """

    def __init__(
        self,
        tuned: PanoHeadGenerator,
        original: PanoHeadGenerator,
        pivot: torch.Tensor,
        objective: Reconstruction,
        label: torch.Tensor,
        settings: InversionSettings,
        optimizer: torch.optim.Optimizer,
        regularise: bool,
    ) -> None:
        self.tuned, self.original, self.pivot, self.objective, self.label = tuned, original, pivot, objective, label
        self.settings, self.optimizer, self.regularise = settings, optimizer, regularise
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        resolution = tuned.config.image_resolution
        self.nearby = torch.zeros_like(pivot)
        self.camera = torch.zeros_like(label[:1])
        self.losses = torch.zeros(4, device=pivot.device)
        self.image = torch.zeros(label.shape[0], 3, resolution, resolution, device=pivot.device)
        self.before = [p.detach().clone() for p in self.parameters]

    def prepare(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def __call__(self) -> None:
        with Precision.parse(self.settings.precision).scope(self.pivot.device):
            image, locality = _render_with_locality(
                self.tuned,
                self.original,
                self.pivot,
                self.label,
                self.objective,
                self.nearby if self.regularise else None,
                self.camera,
            )
            reconstruction, parts = self.objective(image)
        (reconstruction + self.settings.locality_weight * locality).backward()
        with torch.no_grad():
            self.losses.copy_(
                torch.stack([reconstruction.detach(), parts["l2"], parts["perceptual"], locality.detach()]).float()
            )
            self.image.copy_(image.detach())
            torch._foreach_copy_(self.before, [p.detach() for p in self.parameters])
        self.optimizer.step()


def pivotal_tuning(
    original: PanoHeadGenerator,
    pivot: torch.Tensor,
    objective: Reconstruction,
    label: torch.Tensor,
    settings: InversionSettings,
    sample_w: Callable[[torch.Generator], torch.Tensor],
    spread: float,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    in_place: bool = False,
) -> TuningResult:
    """Tune a copy of ``original`` so that it renders ``pivot`` (1, num_ws, w_dim) at the photo cameras
    ``label`` (N, 25) like the targets.

    ``sample_w(generator)`` draws one random w (1, w_dim) for the regulariser; ``spread`` is the RMS
    distance of random ws from their mean. ``original`` is not modified, unless ``in_place``: then
    ``original`` itself is tuned (and is its own regulariser reference), with no second generator in
    memory; the time estimate does so at a zero learning rate, so that the weights end as they began
    (the best step's starting weights are copied back at the end, and no step moves them).
    """
    tuned = original.requires_grad_(False) if in_place else copy.deepcopy(original).requires_grad_(False)
    parameters = tuned_parameters(tuned)
    for parameter in parameters:
        parameter.requires_grad_(True)
    device = pivot.device
    regularised = settings.locality_weight > 0
    # With the regulariser on every k-th step only, the two kinds of step are two captured graphs;
    # each holds its own backward and optimiser update, and they share the optimiser's state.
    graphs = settings.cuda_graphs
    optimizer = torch.optim.Adam(parameters, lr=settings.pti_lr, capturable=graphs and device.type == "cuda")
    steps = {
        flag: TuningStep(tuned, original, pivot, objective, label, settings, optimizer, flag)
        for flag in ({regularised, False} if settings.locality_every > 1 else {regularised})
    }
    runners = {flag: CapturedStep(step, step.prepare, device, graphs) for flag, step in steps.items()}
    rng = torch.Generator().manual_seed(settings.seed + 1)
    cfg = original.config

    best = BestTracker()
    best_state = [p.detach().clone() for p in parameters]
    stopped = False
    for index in range(settings.pti_steps):
        if cancelled(cancel):
            stopped = True
            break
        regularise = regularised and index % settings.locality_every == 0
        step = steps[regularise]
        if regularise:
            with torch.no_grad():
                step.nearby.copy_(locality_latent(pivot, sample_w(rng).to(device), settings.locality_distance * spread))
            yaw = float(torch.rand((), generator=rng)) * 360.0
            step.camera.copy_(orbit_camera(yaw, 0.0, cfg, device=device))
        runners[regularise]()
        reconstruction, l2, perceptual, locality = step.losses.tolist()
        if best.update(reconstruction, index + 1):
            best_state = [p.clone() for p in step.before]
        if callback is not None:
            last = index + 1 == settings.pti_steps
            preview = to_uint8(step.image[0]) if last or (index + 1) % settings.preview_every == 0 else None
            losses = {"loss": reconstruction, "l2": l2, "perceptual": perceptual, "locality": locality}
            callback(InversionStep("pti", index + 1, settings.pti_steps, losses, best.value, preview))

    with torch.no_grad():
        for parameter, value in zip(parameters, best_state, strict=True):
            parameter.copy_(value)
    tuned.requires_grad_(False).eval()
    with torch.no_grad():
        preview = render_view(tuned, pivot, label)
    return TuningResult(generator=tuned, best=best, cancelled=stopped, preview=preview)


def _render_with_locality(
    tuned: PanoHeadGenerator,
    original: PanoHeadGenerator,
    pivot: torch.Tensor,
    label: torch.Tensor,
    objective: Reconstruction,
    nearby: torch.Tensor | None,
    camera: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tuned renders of the pivot at the N photo cameras ``label`` (N, 3, R, R) and the locality
    distance (0 when ``nearby`` is None).

    One batch renders the pivot at the photo cameras and ``nearby`` at ``camera``; the original
    generator's render of ``nearby`` is the regulariser's reference.
    """
    if nearby is None:
        return render_view(tuned, pivot, label), torch.zeros((), device=pivot.device)
    with torch.no_grad():
        reference = render_view(original, nearby, camera)
    views = label.shape[0]
    images = render_view(tuned, torch.cat([pivot.expand(views, -1, -1), nearby]), torch.cat([label, camera]))
    locality = pair_distance(
        objective.perceptual, images[views:], reference, objective.l2_weight, objective.perceptual_weight
    )
    return images[:views], locality
