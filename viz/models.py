"""Opening the generator a model source names, with the facts about it the UI shows."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from panohead.camera import fov_from_focal
from panohead.editing.mixing import layer_groups
from panohead.generator import PanoHeadGenerator, parameter_count
from panohead.model_source import ModelSource
from panohead.nn.synthesis import SynthesisNetwork


@dataclass(frozen=True)
class ModelInfo:
    source: str
    name: str  # what the title bar and checkpoint panel show
    device: str
    parameters: int
    neural_resolution: int
    image_resolution: int
    grid_depth: int
    plane_resolution: int
    plane_channels: int
    num_ws: int
    z_dim: int
    has_background: bool
    camera_radius: float  # the model's default orbit (for "reset camera")
    look_at: tuple[float, float, float]
    fov: float
    w_dim: int
    # Style-mixing groups as (name, first w row, end row) of the backbone and the background network.
    layer_groups: tuple[tuple[str, int, int], ...]
    background_num_ws: int  # 0 without a background network
    background_layer_groups: tuple[tuple[str, int, int], ...]
    # What it learnt from (ModelSource.training_data): "synthetic", "photos", "untrained" or None (unrecorded).
    training_data: str | None = None


def open_model(source: str, device: torch.device) -> tuple[PanoHeadGenerator, ModelInfo]:
    """Open the model ``source`` names (:class:`~panohead.model_source.ModelSource`: "bundled",
    "random:<preset>" or a checkpoint path) and describe it for the UI.

    Raises a UserError/ValueError with a one-line message naming the file or value at fault.
    """
    model = ModelSource.parse(source)
    generator = model.open(device)
    cfg = generator.config
    info = ModelInfo(
        source=source,
        name=model.describe(),
        device=str(device),
        parameters=parameter_count(generator),
        neural_resolution=cfg.neural_resolution,
        image_resolution=cfg.image_resolution,
        grid_depth=cfg.grid_depth,
        plane_resolution=cfg.plane_resolution,
        plane_channels=cfg.plane_channels,
        num_ws=generator.num_ws,
        z_dim=cfg.z_dim,
        has_background=generator.background is not None,
        camera_radius=cfg.camera_radius,
        look_at=tuple(cfg.look_at),
        fov=fov_from_focal(cfg.focal),
        w_dim=cfg.w_dim,
        layer_groups=_groups(generator.synthesis),
        background_num_ws=0 if generator.background is None else generator.background.num_ws,
        background_layer_groups=() if generator.background is None else _groups(generator.background),
        training_data=model.training_data(),
    )
    return generator, info


def _groups(network: SynthesisNetwork) -> tuple[tuple[str, int, int], ...]:
    return tuple((name, start, stop) for name, (start, stop) in layer_groups(network).items())
