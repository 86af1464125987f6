"""Device selection: CUDA when present, the CPU otherwise, with a clear error for bad requests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, get_args

import torch

DeviceChoice = Literal["auto", "cpu", "cuda"]  # what --device offers; pick_device also takes "cuda:N"
DEVICE_CHOICES: tuple[DeviceChoice, ...] = get_args(DeviceChoice)


def pick_device(name: DeviceChoice | str = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available (use --device cpu or auto)")
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")
    return torch.device(name)


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """cuDNN's autotuning (``torch.backends.cudnn.benchmark``) on (or off) while inside, restored after.

    The one place that sets the flag: work that runs the same shapes again and again turns it on
    around that work (the viewer's frames, each inversion step, the training loop, the benches), and
    nothing leaves it set for whatever runs next in the process (a viewer's export or training thread,
    a test). It is a scope of its own rather than part of :class:`panohead.precision.Precision`'s
    scope: a precision is a value that names which float32 work may round, carried in requests and
    settings and shown to the user, while autotuning only picks among kernels of the same number
    format and is the caller's choice of whether its shapes repeat (training has
    ``--no-cudnn-benchmark`` independently of its precision). A CPU ignores the flag.
    """
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
