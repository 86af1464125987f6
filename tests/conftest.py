"""Shared fixtures: tiny generators that build in milliseconds on a CPU."""
from __future__ import annotations

import pytest
import torch

from panohead.config import preset
from panohead.generator import PanoHeadGenerator


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)


def make_tiny_generator(**overrides) -> PanoHeadGenerator:
    torch.manual_seed(0)
    return PanoHeadGenerator(preset("tiny", **overrides)).eval().requires_grad_(False)


@pytest.fixture
def tiny_generator() -> PanoHeadGenerator:
    return make_tiny_generator()
