"""Timing helpers shared by the benchmark scripts (not tests: they print numbers, they assert nothing)."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from panohead.generator import PanoHeadGenerator


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(function: Callable[[], object], device: torch.device, warmup: int = 2, repeats: int = 5) -> float:
    """Median wall time in seconds of ``function()``, synchronising CUDA around each call."""
    for _ in range(warmup):
        function()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def benchmark_model(checkpoint: str | None, config: str, device: torch.device) -> tuple[PanoHeadGenerator, str]:
    """The generator to time and its name: a checkpoint when given, else a randomly initialised
    ``config`` preset (speed does not depend on the weights)."""
    from panohead.model_source import ModelSource

    if checkpoint:
        source = ModelSource.parse(checkpoint)
        return source.open(device), source.describe()
    return ModelSource.parse(f"random:{config}").open(device), config


# The official code on one H200 (PyTorch 2.11+cu130, its custom CUDA ops built), measured by an earlier
# session: ../shared/spec/official_format.md, "Speed of the official code on one H200". Paper config,
# 512x512, random weights; "G fwd+bwd" is the generator's forward + backward of image.square().mean()
# at batch 8 with random noise, in its own precision (fp32 backbone, fp16 super-resolution).
OFFICIAL_H200 = {
    "G fwd+bwd batch 8": "132.4 ms, peak 11.9 GiB",
    "new seed batch 1": "35.4 ms (28.2 img/s)",
    "new seed batch 8": "56.6 ms (141.3 img/s), peak 3.15 GiB",
    "orbit batch 1": "20.1 ms (49.9 FPS)",
    "training step": "1.296 s per batch of 32 (24.7 img/s), peak 13.8 GiB",
}


def print_official(*keys: str) -> None:
    """The official code's figures for ``keys`` (all when none), for ratios read off the same page."""
    print("official code on one H200 (../shared/spec/official_format.md):")
    for key in keys or OFFICIAL_H200:
        print(f"  {key}: {OFFICIAL_H200[key]}")
