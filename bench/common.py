"""Timing helpers shared by the benchmark scripts (not tests: they print numbers, they assert nothing)."""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def time_call(function: Callable[[], object], device: torch.device, warmup: int = 2, repeats: int = 5) -> float:
    """Median wall time in seconds of ``function()``, synchronising CUDA around each call."""
    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    for _ in range(warmup):
        function()
    synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def benchmark_model(checkpoint: str | None, config: str, device: torch.device) -> tuple[torch.nn.Module, str]:
    """The generator to time and its name: a checkpoint when given, else a randomly initialised
    ``config`` preset (speed does not depend on the weights)."""
    from panohead.checkpoint import load_generator
    from panohead.config import preset
    from panohead.generator import PanoHeadGenerator

    if checkpoint:
        return load_generator(checkpoint, device), Path(checkpoint).name
    return PanoHeadGenerator(preset(config)).eval().requires_grad_(False).to(device), config
