"""Opening the generator a checkpoint source names, with a short description for the UI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from panohead.bundled import BUNDLED_CHECKPOINT, RANDOM_PREFIX, default_generator, untrained_generator
from panohead.camera import fov_from_focal
from panohead.checkpoint import CheckpointError, load_generator, training_data
from panohead.editing.mixing import layer_groups
from panohead.generator import PanoHeadGenerator, parameter_count

CHECKPOINT_SUFFIXES = (".safetensors", ".pkl")


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
    # What it learnt from (panohead.checkpoint.training_data): "synthetic", "photos", "untrained" or None (unrecorded).
    training_data: str | None = None


def describe_source(source: str) -> str:
    if source == "bundled":
        return "bundled model"
    if source.startswith(RANDOM_PREFIX):
        return f"untrained '{source[len(RANDOM_PREFIX) :]}' model"
    return Path(source).name


def learnt_from(source: str) -> str | None:
    """What the model ``source`` names was trained on, from its training record
    (:func:`panohead.checkpoint.training_data`): "synthetic", "photos", "untrained" (a random preset,
    or no bundled checkpoint in this checkout) or None (not recorded, or not readable)."""
    if source == "bundled":
        return training_data(BUNDLED_CHECKPOINT) if BUNDLED_CHECKPOINT.is_file() else "untrained"
    if source.startswith(RANDOM_PREFIX):
        return "untrained"
    try:
        return training_data(source)
    except CheckpointError:
        return None


def open_model(source: str, device: torch.device) -> tuple[PanoHeadGenerator, ModelInfo]:
    """Load ``source``: "bundled", "random:<preset>" (untrained, seed 0) or a checkpoint path.

    Raises CheckpointError/ValueError with a one-line message naming the file or value at fault.
    """
    if source == "bundled":
        generator, name = default_generator(device)
    elif source.startswith(RANDOM_PREFIX):
        generator, name = untrained_generator(source[len(RANDOM_PREFIX) :], device), describe_source(source)
    else:
        path = Path(source)
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{path}: not a checkpoint (expected {' or '.join(CHECKPOINT_SUFFIXES)})")
        generator, name = load_generator(path, device), path.name
    cfg = generator.config
    info = ModelInfo(
        source=source,
        name=name,
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
        training_data=learnt_from(source),
    )
    return generator, info


def _groups(network: torch.nn.Module) -> tuple[tuple[str, int, int], ...]:
    return tuple((name, start, stop) for name, (start, stop) in layer_groups(network).items())
