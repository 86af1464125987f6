"""The checkpoint we ship, and the model the tools open when the user names none."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from panohead.checkpoint import load_generator
from panohead.config import preset

BUNDLED_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "panohead_small.safetensors"
log = logging.getLogger(__name__)


def default_generator(device: torch.device | str = "cpu") -> tuple[torch.nn.Module, str]:
    """The bundled model, or (if this checkout has none) a randomly initialised ``small`` model.

    Returns the generator and a short description of where it came from, for titles and logs.
    """
    if BUNDLED_CHECKPOINT.is_file():
        return load_generator(BUNDLED_CHECKPOINT, device), BUNDLED_CHECKPOINT.name
    from panohead.generator import PanoHeadGenerator

    torch.manual_seed(0)
    log.warning("no bundled checkpoint at %s: using an untrained 'small' model", BUNDLED_CHECKPOINT)
    return PanoHeadGenerator(preset("small")).eval().requires_grad_(False).to(device), "untrained small model"
