"""One optimisation step, run eagerly or replayed from a CUDA graph.

At batch 1 an inversion step is a few thousand small kernels (StyleGAN layers, ray sampling, the
perceptual network, forward and backward), so on a fast GPU the time goes to launching them, not
to the arithmetic. A step has fixed shapes, so after a few eager warm-up steps it is captured once
(forward, backward and the optimiser update) and replayed for every later step; the host only
writes the step's inputs into static tensors before a replay and reads the loss after it.

A step function must keep all its per-step inputs and outputs in tensors that live across calls
(static buffers) and must not synchronise with the host. Gradients are released before the warm-up
steps and the capture (``prepare``), never before a replay, so the captured backward writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from panohead.devices import cudnn_benchmark
from panohead.errors import one_line
from panohead.graphs import capture_graph, on_side_stream

log = logging.getLogger(__name__)
WARMUP_STEPS = 3  # eager steps before the capture: cuDNN algorithm choice and allocator pools settle


class CapturedStep:
    """Call once per optimisation step; each call runs the step exactly once.

    ``graphs`` enables CUDA graphs (CUDA devices only). Any failure to capture or replay falls back
    to eager steps for good, with one warning; ``error`` says why (a step whose replay failed is run
    again eagerly).
    """

    def __init__(
        self, step: Callable[[], None], prepare: Callable[[], None], device: torch.device, graphs: bool
    ) -> None:
        self.step, self.prepare = step, prepare
        self.enabled = graphs and device.type == "cuda"
        self.error: str | None = None
        self.calls = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self.device = device

    @property
    def graphed(self) -> bool:
        return self._graph is not None

    def __call__(self) -> None:
        with cudnn_benchmark(True):  # fixed shapes every step: let cuDNN pick its fastest kernels
            self._run()

    def _run(self) -> None:
        self.calls += 1
        if not self.enabled or self.error is not None:
            self.prepare()
            self.step()
            return
        try:
            if self._graph is None and self.calls <= WARMUP_STEPS:
                self._warm_up()
                return
            if self._graph is None:
                self._capture()
            self._graph.replay()
        except Exception as error:  # capture or replay unsupported here: eager from now on
            self._fall_back(error)

    def _warm_up(self) -> None:
        def step() -> None:
            self.prepare()
            self.step()

        on_side_stream(step, self.device)

    def _capture(self) -> None:
        """Record the step (nothing runs during the recording; the caller replays it right after)."""
        torch.cuda.synchronize()
        self.prepare()
        self._graph, _ = capture_graph(self.step)

    def _fall_back(self, error: Exception) -> None:
        self.error = f"{type(error).__name__}: {one_line(error)}"
        log.warning("CUDA graph disabled for inversion steps, running them eagerly: %s", self.error)
        self._graph = None
        torch.cuda.synchronize()
        self.prepare()
        self.step()
