"""Wall time per named stage of one render, for the Performance panel and the viewer's benchmark."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch


class StageTimer:
    """``with timer("render"): ...`` adds the block's seconds to ``timings["render"]``; on CUDA each
    stage is synchronised so the split between stages is honest (kernels run asynchronously)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start
