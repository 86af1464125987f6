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


@pytest.fixture
def single_thread():
    """Run the test with one intra-op thread: the many small ops of rasterising and fitting collapse
    with two threads on a shared machine (see docs/performance.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
