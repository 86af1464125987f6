"""The checkpoint we ship, the model the tools open when the user names none, and model sources.

A *source* names a model the way the app and session files do: "bundled", "random:<preset>" (an
untrained preset with fixed weights, to try the tools without a checkpoint) or a checkpoint path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from panohead.checkpoint import load_generator
from panohead.config import PRESETS, preset

BUNDLED_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "panohead_small.safetensors"
BUNDLED = "bundled"
RANDOM_PREFIX = "random:"
log = logging.getLogger(__name__)


def untrained_generator(name: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Preset ``name`` randomly initialised with seed 0: the same weights every time (the global
    random state is left as it was)."""
    from panohead.generator import PanoHeadGenerator

    if name not in PRESETS:
        raise ValueError(f"{RANDOM_PREFIX}{name}: unknown preset; choose one of {', '.join(PRESETS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = PanoHeadGenerator(preset(name))
    return generator.eval().requires_grad_(False).to(device)


def open_source(source: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The generator a source names (see the module docstring)."""
    if source == BUNDLED:
        return default_generator(device)[0]
    if source.startswith(RANDOM_PREFIX):
        return untrained_generator(source[len(RANDOM_PREFIX) :], device)
    return load_generator(source, device)


def default_generator(device: torch.device | str = "cpu") -> tuple[torch.nn.Module, str]:
    """The bundled model, or (if this checkout has none) a randomly initialised ``small`` model.

    Returns the generator and a short description of where it came from, for titles and logs.
    """
    if BUNDLED_CHECKPOINT.is_file():
        return load_generator(BUNDLED_CHECKPOINT, device), BUNDLED_CHECKPOINT.name
    log.warning("no bundled checkpoint at %s: using an untrained 'small' model", BUNDLED_CHECKPOINT)
    return untrained_generator("small", device), "untrained small model"
