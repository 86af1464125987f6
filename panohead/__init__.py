"""PanoHead Studio: a clean-room PyTorch implementation of PanoHead (CVPR 2023)."""

from panohead.checkpoint import CheckpointError, load_generator, save_generator
from panohead.config import GeneratorConfig, preset
from panohead.generator import PanoHeadGenerator
from panohead.model_source import ModelSource

__all__ = [
    "CheckpointError",
    "GeneratorConfig",
    "ModelSource",
    "PanoHeadGenerator",
    "load_generator",
    "preset",
    "save_generator",
]
