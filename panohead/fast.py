"""Fast rendering paths around :class:`~panohead.generator.PanoHeadGenerator`, each opt-in.

    fast = FastRenderer(G, precision="bf16", skip_empty=True, cuda_graph=True)
    ws = fast.mapping(z, c_cond, psi); planes = fast.planes(ws); bg = fast.background(ws)
    out = fast.render(planes, ws, c_render, bg)      # dict like G.render
    image = fast.orbit(planes, ws, c_render, bg)     # (B, 3, R, R); CUDA-graph replay when enabled

- ``precision``: 'bf16' / 'fp16' run the super-resolution and the background network under
  autocast (convolutions on tensor cores), as the official code runs its super-resolution in fp16.
  ``trigrid_precision`` does the same for the tri-grid synthesis network; it is separate because
  the tri-grid sets the density, so rounding there moves the mask (about 0.05 on the bundled model
  in fp16) where rounding in the super-resolution only perturbs colours. Rays, tri-grid sampling,
  the decoder and compositing always stay in float32: the importance sampler amplifies rounding.
- ``skip_empty``: a coarse occupancy grid per cached tri-grid (:mod:`panohead.rendering.occupancy`);
  samples in empty cells are not evaluated.
- ``cuda_graph``: the orbit frame (render + super-resolution) and the new-seed frame (mapping to
  image) have fixed shapes, so each is captured once per shape and replayed, removing the launch
  overhead of a few hundred small kernels. CUDA only; any capture failure falls back to eager
  rendering for good (``graph_error`` says why), so an app never crashes because of it. A graph
  holds a private memory pool as large as the frame's intermediates: :meth:`FastRenderer.release`
  frees it at once (a dropped renderer frees it too, by reference counting alone).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from panohead.devices import capture_graph, on_side_stream
from panohead.errors import one_line
from panohead.rendering.occupancy import OccupancyGrid, build_occupancy, skipping_field

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device | str):
    """Autocast context for ``precision`` ('fp32' = none). The weight-cast cache is off so the same
    context works inside CUDA graph capture."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=DTYPES[precision], cache_enabled=False)


class FastRenderer:
    """Synthesis and rendering of ``G`` with the chosen fast paths (see the module docstring)."""

    def __init__(
        self,
        G,
        precision: str = "fp32",
        trigrid_precision: str = "fp32",
        skip_empty: bool = False,
        occupancy_resolution: int = 64,
        occupancy_threshold: float = 1e-3,
        cuda_graph: bool = False,
    ) -> None:
        autocast(precision, "cpu"), autocast(trigrid_precision, "cpu")  # validate early
        self.G, self.precision, self.trigrid_precision, self.skip_empty = G, precision, trigrid_precision, skip_empty
        self.occupancy_resolution, self.occupancy_threshold = occupancy_resolution, occupancy_threshold
        self._occupancy: tuple[torch.Tensor, OccupancyGrid] | None = None
        graphs = cuda_graph and G.device.type == "cuda"
        self.graph = GraphedCall(self._orbit_eager) if graphs else None
        self.seed_graph = GraphedCall(self._synthesize_eager) if graphs else None

    @property
    def graph_error(self) -> str | None:
        errors = [g.error for g in (self.graph, self.seed_graph) if g is not None and g.error]
        return "; ".join(errors) or None

    def release(self) -> None:
        """Free the captured graphs (their memory pools, static inputs and outputs) and the occupancy
        grid now; the renderer stays usable and captures again on its next graphed call. Call
        ``torch.cuda.empty_cache()`` afterwards to hand the memory back to the driver."""
        for graphed in (self.graph, self.seed_graph):
            if graphed is not None:
                graphed.release()
        self._occupancy = None

    def _autocast(self, precision: str | None = None):
        return autocast(precision or self.precision, self.G.device)

    def mapping(
        self, z: torch.Tensor, c_cond: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        return self.G.mapping(z, c_cond, psi, cutoff)  # a few small matmuls: fp32 costs nothing here

    def planes(self, ws: torch.Tensor) -> torch.Tensor:
        """ws -> tri-grid (B, 3, C, D, H, W) in float32 (synthesised under the chosen precision)."""
        with self._autocast(self.trigrid_precision):
            return self.G.synthesize_planes(ws).float()

    def background(self, ws: torch.Tensor) -> torch.Tensor | None:
        with self._autocast():
            background = self.G.synthesize_background(ws)
        return None if background is None else background.float()

    def superres(self, image_raw: torch.Tensor, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.G.superres(image_raw, features, ws).float()

    def occupancy(self, planes: torch.Tensor) -> OccupancyGrid:
        """The occupancy grid of ``planes``, built once per tri-grid tensor (the viewer's cached head)."""
        if self._occupancy is None or self._occupancy[0] is not planes:
            grid = build_occupancy(self.G, planes, self.occupancy_resolution, self.occupancy_threshold)
            self._occupancy = (planes, grid)
        return self._occupancy[1]

    def render(
        self,
        planes: torch.Tensor,
        ws: torch.Tensor,
        c_render: torch.Tensor,
        background: torch.Tensor | None = None,
        neural_resolution: int | None = None,
        superresolve: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Like :meth:`PanoHeadGenerator.render` (deterministic rays), with the fast paths applied."""
        G = self.G
        field = skipping_field(G.field, planes, self.occupancy(planes)) if self.skip_empty else None
        if background is None and G.background is not None:
            background = self.background(ws)
        with torch.autocast(G.device.type, enabled=False):
            out = G.render(
                planes,
                ws,
                c_render,
                background=background,
                neural_resolution=neural_resolution,
                superresolve=False,
                field=field,
            )
        if superresolve:
            out["image"] = self.superres(out["image_raw"], out["features"], ws)
            size = out["image"].shape[-1]
            out["mask"] = F.interpolate(out["mask_raw"], size=(size, size), mode="bilinear", align_corners=False)
        return out

    def synthesize(
        self, z: torch.Tensor, c_cond: torch.Tensor, c_render: torch.Tensor, psi: float = 1.0
    ) -> torch.Tensor:
        """A new seed end to end: mapping, tri-grid, background, render, super-resolution -> image (B, 3, R, R).

        Replayed from a CUDA graph per (shape, ``psi``) when enabled (not with ``skip_empty``).
        """
        if self.seed_graph is None or self.skip_empty:
            return self._synthesize_eager(z, c_cond, c_render, psi)
        return self.seed_graph(z, c_cond, c_render, psi=psi)

    def _synthesize_eager(self, z, c_cond, c_render, psi: float = 1.0) -> torch.Tensor:
        ws = self.mapping(z, c_cond, psi)
        return self.render(self.planes(ws), ws, c_render, self.background(ws))["image"]

    def _orbit_eager(self, planes, ws, c_render, background) -> torch.Tensor:
        return self.render(planes, ws, c_render, background)["image"]

    def orbit(
        self, planes: torch.Tensor, ws: torch.Tensor, c_render: torch.Tensor, background: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One orbit frame of a cached head -> image (B, 3, R, R)."""
        if self.graph is None or self.skip_empty:  # skipping has data-dependent shapes: not capturable
            return self._orbit_eager(planes, ws, c_render, background)
        return self.graph(planes, ws, c_render, background)


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
