"""CUDA graphs: capture a fixed-shape piece of GPU work once, replay it for every later call.

:class:`GraphedCall` is what the renderer (:mod:`panohead.fast`) uses: a function graphed per input
shape, falling back to eager calls for good on any failure. :func:`capture_graph` and
:func:`on_side_stream` are the two primitives under it, also used directly by the inversion's step
graphs (:mod:`panohead.inversion.steps`).
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

import torch

from panohead.errors import one_line

log = logging.getLogger(__name__)

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


class GraphedCall:
    """``function(*tensors, **constants) -> output`` replayed from a CUDA graph captured per input
    shape and constants (Python numbers or strings baked into the graph, e.g. the truncation psi).

    ``output`` is a tensor, or a tuple/list/dict of tensors (None entries allowed); every call returns
    fresh clones, so callers may keep results while later calls replay. Every call copies its inputs
    into the graph's static buffers (even a paper tri-grid is a few tens of microseconds of copying
    on a GPU, and callers may change tensors in place). ``capacity`` graphs (one per key) are kept,
    least recently used dropped first. The first failure disables graphs for good and falls back to
    ``function`` itself; ``error`` says why. It never raises on account of the graph.

    A bound method is held by a weak reference, so an object owning a GraphedCall of its own method
    is no reference cycle and is freed (with its graphs) as soon as it is dropped.
    """

    def __init__(self, function: Callable[..., Any], capacity: int = 1) -> None:
        self._function = weakref.WeakMethod(function) if inspect.ismethod(function) else (lambda: function)
        self.capacity = max(1, capacity)
        self.error: str | None = None
        self._captures: dict[tuple, _Capture] = {}

    @property
    def function(self) -> Callable[..., Any]:
        function = self._function()
        if function is None:
            raise ReferenceError("the object whose method was graphed no longer exists")
        return function

    @property
    def captured(self) -> int:
        """How many graphs are held now."""
        return len(self._captures)

    def release(self) -> None:
        """Drop every captured graph with its memory pool, static inputs and outputs (the next call
        captures again unless graphs were disabled by a failure)."""
        self._captures = {}

    def __call__(self, *inputs: torch.Tensor | None, **constants) -> Any:
        function = self.function
        if self.error is not None:
            return function(*inputs, **constants)
        key = (
            tuple(None if t is None else (t.shape, t.dtype, t.device) for t in inputs),
            tuple(sorted(constants.items())),
        )
        try:
            if not all(t is None or t.is_cuda for t in inputs):
                # A graph replays only CUDA work: CPU inputs would silently return the captured output.
                raise RuntimeError("CUDA graphs need CUDA tensors; got an input on another device")
            with torch.inference_mode():
                capture = self._captures.pop(key, None)
                if capture is None:
                    while len(self._captures) >= self.capacity:  # free the oldest pool before a new capture
                        self._captures.pop(next(iter(self._captures)))
                    capture = self._capture(function, inputs, constants)
                self._captures[key] = capture  # most recently used last
                for static, tensor in zip(capture.inputs, inputs, strict=True):
                    if tensor is not None:
                        static.copy_(tensor)
                capture.graph.replay()
                return _clone(capture.output)
        except Exception as error:  # capture/replay unsupported here: eager from now on
            self.error = f"{type(error).__name__}: {one_line(error)}"
            log.warning("CUDA graph disabled, rendering eagerly: %s", self.error)
            self.release()
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # let a broken capture's stream finish before eager work
            return function(*inputs, **constants)

    @staticmethod
    def _capture(function: Callable[..., Any], inputs, constants) -> _Capture:
        static = [None if t is None else t.clone() for t in inputs]

        def warm_up() -> None:  # cuDNN algorithm choice and allocator pools settle outside the capture
            for _ in range(3):
                _clone(function(*static, **constants))  # also checks the output's structure

        on_side_stream(warm_up)
        graph, output = capture_graph(lambda: function(*static, **constants))
        return _Capture(graph, static, output)


class _Capture:
    """One captured graph: its static input buffers and the output tensors its replays overwrite."""

    __slots__ = ("graph", "inputs", "output")

    def __init__(self, graph, inputs: list[torch.Tensor | None], output: Any) -> None:
        self.graph, self.inputs, self.output = graph, inputs, output


def _clone(output: Any) -> Any:
    """A copy of a tensor or of a tuple/list/dict of tensors (None entries kept)."""
    if output is None:
        return None
    if isinstance(output, torch.Tensor):
        return output.clone()
    if isinstance(output, (tuple, list)):
        return type(output)(_clone(item) for item in output)
    if isinstance(output, dict):
        return {name: _clone(item) for name, item in output.items()}
    raise TypeError(f"a graphed function must return tensors, got {type(output).__name__}")
