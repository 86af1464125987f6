"""Device selection: CUDA when present, the CPU otherwise, with a clear error for bad requests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available (use --device cpu or auto)")
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")
    return torch.device(name)


_side_streams: dict[int, torch.cuda.Stream] = {}


def side_stream(device: torch.device | str | None = None) -> torch.cuda.Stream:
    """The process's one side stream on a GPU, for the eager warm-up before a CUDA graph capture.

    Always the same stream per GPU because cuBLAS keeps a workspace (32 MiB on Hopper) for every
    stream it has run on until the process ends: a fresh stream per capture leaks one each time.
    """
    index = None if device is None else torch.device(device).index
    if index is None:
        index = torch.cuda.current_device()
    if index not in _side_streams:
        _side_streams[index] = torch.cuda.Stream(index)
    return _side_streams[index]


def on_side_stream(function: Callable[[], Any], device: torch.device | str | None = None) -> Any:
    """``function()`` run eagerly on :func:`side_stream`, after the current stream's queued work and
    before its later work: the warm-up before a CUDA graph capture, kept off the capture's stream."""
    stream, current = side_stream(device), torch.cuda.current_stream(device)
    stream.wait_stream(current)
    with torch.cuda.stream(stream):
        result = function()
    current.wait_stream(stream)
    return result


def capture_graph(function: Callable[[], Any]) -> tuple[torch.cuda.CUDAGraph, Any]:
    """Record ``function()`` (nothing runs) into a new CUDA graph; returns the graph and the output
    tensors its replays overwrite. Only this thread is restricted while recording ('thread_local'):
    an app's other threads (rendering, export, inversion) may keep using the GPU."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        output = function()
    return graph, output


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 tensor cores for CUDA matmuls and convolutions on (or off) while inside, restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """cuDNN's autotuning (``torch.backends.cudnn.benchmark``) on (or off) while inside, restored after."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
