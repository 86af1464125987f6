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
  rendering for good (``graph_error`` says why), so an app never crashes because of it.
"""
from __future__ import annotations

import contextlib
import logging

import torch
import torch.nn.functional as F

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

    def __init__(self, G, precision: str = "fp32", trigrid_precision: str = "fp32", skip_empty: bool = False,
                 occupancy_resolution: int = 64, occupancy_threshold: float = 1e-3, cuda_graph: bool = False) -> None:
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

    def _autocast(self, precision: str | None = None):
        return autocast(precision or self.precision, self.G.device)

    def mapping(self, z: torch.Tensor, c_cond: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
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

    def render(self, planes: torch.Tensor, ws: torch.Tensor, c_render: torch.Tensor,
               background: torch.Tensor | None = None, neural_resolution: int | None = None,
               superresolve: bool = True) -> dict[str, torch.Tensor]:
        """Like :meth:`PanoHeadGenerator.render` (deterministic rays), with the fast paths applied."""
        G = self.G
        field = skipping_field(G.field, planes, self.occupancy(planes)) if self.skip_empty else None
        if background is None and G.background is not None:
            background = self.background(ws)
        with torch.autocast(G.device.type, enabled=False):
            out = G.render(planes, ws, c_render, background=background, neural_resolution=neural_resolution,
                           superresolve=False, field=field)
        if superresolve:
            out["image"] = self.superres(out["image_raw"], out["features"], ws)
            size = out["image"].shape[-1]
            out["mask"] = F.interpolate(out["mask_raw"], size=(size, size), mode="bilinear", align_corners=False)
        return out

    def synthesize(self, z: torch.Tensor, c_cond: torch.Tensor, c_render: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
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

    def orbit(self, planes: torch.Tensor, ws: torch.Tensor, c_render: torch.Tensor,
              background: torch.Tensor | None = None) -> torch.Tensor:
        """One orbit frame of a cached head -> image (B, 3, R, R)."""
        if self.graph is None or self.skip_empty:  # skipping has data-dependent shapes: not capturable
            return self._orbit_eager(planes, ws, c_render, background)
        return self.graph(planes, ws, c_render, background)


class GraphedCall:
    """``function(*tensors, **constants) -> tensor`` replayed from a CUDA graph captured per input
    shape and constants (Python numbers baked into the graph, e.g. the truncation psi).

    Every call copies its inputs into the graph's static buffers (even a paper tri-grid is a few tens
    of microseconds of copying on a GPU, and callers may change tensors in place). The first failure
    disables the graph and falls back to ``function`` itself.
    """

    def __init__(self, function) -> None:
        self.function = function
        self.error: str | None = None
        self._graph = None
        self._key = None
        self._static: list[torch.Tensor | None] = []
        self._output: torch.Tensor | None = None

    def __call__(self, *inputs: torch.Tensor | None, **constants) -> torch.Tensor:
        if self.error is not None:
            return self.function(*inputs, **constants)
        key = (tuple(None if t is None else (t.shape, t.dtype, t.device) for t in inputs), tuple(sorted(constants.items())))
        try:
            if not all(t is None or t.is_cuda for t in inputs):
                # A graph replays only CUDA work: CPU inputs would silently return the captured output.
                raise RuntimeError("CUDA graphs need CUDA tensors; got an input on another device")
            with torch.inference_mode():
                if key != self._key:
                    self._capture(inputs, constants, key)
                for static, tensor in zip(self._static, inputs):
                    if tensor is not None:
                        static.copy_(tensor)
                self._graph.replay()
                return self._output.clone()
        except Exception as error:  # capture/replay unsupported here: eager from now on
            self.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            log.warning("CUDA graph disabled, rendering eagerly: %s", self.error)
            self._graph = self._output = None
            self._static = []
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # let a broken capture's stream finish before eager work
            return self.function(*inputs, **constants)

    def _capture(self, inputs, constants, key) -> None:
        self._graph = None
        self._static = [None if t is None else t.clone() for t in inputs]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm-up: cuDNN algorithm choice and allocator pools outside the capture
                self.function(*self._static, **constants)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._output = self.function(*self._static, **constants)
        self._graph, self._key = graph, key
