"""The one orbit camera in degrees, on a model's orbit: what every caller outside :mod:`panohead.camera` uses.

    label = orbit_camera(30.0, 10.0, generator)          # (1, 25): yaw 30, pitch 10 on the model's orbit
    labels = orbit_camera(torch.arange(0, 360, 30.0))     # (12, 25): the default orbit (radius 2.7, ...)

Angles are degrees here and nowhere else radians, so the trap of passing one for the other is closed
at the only door; :func:`panohead.camera.orbit_label` keeps the radians for the geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from panohead.camera import DEFAULT_FOCAL, DEFAULT_LOOK_AT, DEFAULT_RADIUS, focal_from_fov, orbit_label
from panohead.config import GeneratorConfig
from panohead.generator import PanoHeadGenerator

Angle = float | Sequence[float] | torch.Tensor


def radians(degrees: Angle) -> float | torch.Tensor:
    """Degrees to radians as :func:`math.radians` computes them (in double precision); sequences and
    tensors come back as float32 tensors."""
    if isinstance(degrees, int | float):
        return math.radians(degrees)
    return (torch.as_tensor(degrees, dtype=torch.float64) * (math.pi / 180.0)).float()


def orbit_camera(
    yaw: Angle,
    pitch: Angle = 0.0,
    model: PanoHeadGenerator | GeneratorConfig | None = None,
    *,
    radius: float | torch.Tensor | None = None,
    look_at: tuple[float, float, float] | None = None,
    fov: float | None = None,
    focal: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, 25) labels at ``yaw`` and ``pitch`` in degrees (scalars, or a value per camera).

    The orbit (distance ``radius``, pivot ``look_at``, lens ``focal`` or official ``fov``) is the
    ``model``'s, a generator or its config, where not given; without a model, the dataset's defaults.
    A generator also gives the device, unless ``device`` is given.
    """
    config = model.config if isinstance(model, PanoHeadGenerator) else model
    if fov is not None:
        focal = focal_from_fov(fov)
    if config is not None:
        radius = config.camera_radius if radius is None else radius
        look_at = config.look_at if look_at is None else look_at
        focal = config.focal if focal is None else focal
    if device is None and isinstance(model, PanoHeadGenerator):
        device = model.device
    return orbit_label(
        radians(yaw),
        radians(pitch),
        DEFAULT_RADIUS if radius is None else radius,
        DEFAULT_LOOK_AT if look_at is None else look_at,
        DEFAULT_FOCAL if focal is None else focal,
        device=device,
    )


def frontal_camera(model: PanoHeadGenerator | GeneratorConfig | None, batch: int = 1) -> torch.Tensor:
    """(B, 25) frontal labels on ``model``'s orbit: the conditioning camera of the paper's renders."""
    return orbit_camera(0.0, 0.0, model).expand(batch, -1)
