"""Where a model comes from: the one place a model is named, parsed and opened.

A source is written as text in the CLI's ``--checkpoint``, the viewer's checkpoint field and
session files, and parsed once into a :class:`ModelSource`:

* ``bundled``: the checkpoint we ship (an untrained ``small`` model in a checkout without it);
* ``random:<preset>``: a preset randomly initialised with seed 0, the same weights every time, to
  try the tools without a checkpoint;
* a path: our checkpoint (``.safetensors``, :mod:`panohead.checkpoint`) or an official PanoHead/EG3D
  snapshot (``.pkl``, :mod:`panohead.official`, read without running any of its code).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from panohead.bundled import BUNDLED_CHECKPOINT
from panohead.checkpoint import CheckpointError, TrainingData, load_generator, training_data
from panohead.config import PRESETS, preset
from panohead.generator import PanoHeadGenerator

BUNDLED = "bundled"
RANDOM_PREFIX = "random:"
CHECKPOINT_SUFFIXES = (".safetensors", ".pkl")
FALLBACK_PRESET = "small"  # what "bundled" opens in a checkout without the bundled checkpoint
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A model named by the user: ``kind`` "bundled", "random" (``preset``) or "file" (``path``).

    ``str(source)`` is the text it was parsed from (paths as :class:`~pathlib.Path` prints them), so
    session files and output records name a model the way the tools accept it back.
    """

    kind: Literal["bundled", "random", "file"]
    preset: str = ""  # kind "random"
    path: Path | None = None  # kind "file"

    @classmethod
    def parse(cls, text: str | os.PathLike | None) -> ModelSource:
        """The source ``text`` names; None means "bundled". Any text parses: the preset and the
        file are checked by :meth:`open` (a file may appear later, a typed name may be half done)."""
        if text is None or text == BUNDLED:
            return cls("bundled")
        text = os.fspath(text)
        if text.startswith(RANDOM_PREFIX):
            return cls("random", preset=text[len(RANDOM_PREFIX) :])
        return cls("file", path=Path(text))

    def __str__(self) -> str:
        if self.kind == "random":
            return f"{RANDOM_PREFIX}{self.preset}"
        return BUNDLED if self.path is None else str(self.path)

    def describe(self) -> str:
        """A short name for titles, messages and logs: "bundled model", "untrained 'tiny' model" or the file's name."""
        if self.kind == "bundled":
            return "bundled model" if BUNDLED_CHECKPOINT.is_file() else f"untrained '{FALLBACK_PRESET}' model"
        if self.kind == "random":
            return f"untrained '{self.preset}' model"
        return self.path.name

    def training_data(self) -> TrainingData | Literal["untrained"] | None:
        """What the model learnt from (:func:`panohead.checkpoint.training_data`): "synthetic",
        "photos", "untrained" (a random preset, or no bundled checkpoint in this checkout) or None
        (not recorded, or the file is not readable)."""
        if self.kind == "random" or (self.kind == "bundled" and not BUNDLED_CHECKPOINT.is_file()):
            return "untrained"
        try:
            return training_data(self.path or BUNDLED_CHECKPOINT)
        except CheckpointError:
            return None

    def open(self, device: torch.device | str = "cpu") -> PanoHeadGenerator:
        """The generator, frozen (eval, no gradients), on ``device``.

        Raises a :class:`~panohead.errors.UserError` (CheckpointError, OfficialCheckpointError) with
        one line naming the file and the problem.
        """
        if self.kind == "random":
            return untrained_generator(self.preset, device)
        if self.kind == "bundled":
            if BUNDLED_CHECKPOINT.is_file():
                return load_generator(BUNDLED_CHECKPOINT, device)
            log.warning(
                "no bundled checkpoint at %s: using an untrained '%s' model", BUNDLED_CHECKPOINT, FALLBACK_PRESET
            )
            return untrained_generator(FALLBACK_PRESET, device)
        suffix = self.path.suffix.lower()
        if suffix not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{self.path}: not a checkpoint (expected {' or '.join(CHECKPOINT_SUFFIXES)})")
        if suffix == ".pkl":
            from panohead.official import load_official_generator  # the restricted unpickler, only when needed

            return load_official_generator(self.path).to(device)
        return load_generator(self.path, device)


def untrained_generator(name: str, device: torch.device | str = "cpu") -> PanoHeadGenerator:
    """Preset ``name`` randomly initialised with seed 0: the same weights every time (the global
    random state is left as it was)."""
    if name not in PRESETS:
        raise ValueError(f"{RANDOM_PREFIX}{name}: unknown preset; choose one of {', '.join(PRESETS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = PanoHeadGenerator(preset(name))
    return generator.eval().requires_grad_(False).to(device)
