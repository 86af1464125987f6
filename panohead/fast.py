"""The staged renderer: :class:`~panohead.generator.PanoHeadGenerator` in stages, with opt-in fast paths.

    fast = FastRenderer(G, precision="fp16", skip_empty=False, cuda_graph=True)
    ws = fast.mapping(z, c_cond, psi); planes = fast.planes(ws); bg = fast.background(ws)
    volume = fast.march(planes, ws, label, neural)   # ray-marched head, no background, no SR
    images = fast.compose(volume["foreground"], volume["weight_sum"], bg, ws)  # Eq. 3, to_rgb, SR
    out = fast.render(planes, ws, c_render, bg)      # dict like G.render
    image = fast.orbit(planes, ws, c_render, bg)     # (B, 3, R, R); CUDA-graph replay when enabled

The march and compose stages are :mod:`panohead.views.stages`: the viewer caches the marched head per
camera and swaps the background or the super-resolution without marching again; ``orbit`` and
``synthesize`` are whole frames, for benchmarks and batch work.

- ``precision`` (a :class:`~panohead.precision.Precision` or its name): 'bf16' / 'fp16' run the
  super-resolution and the background network under autocast (convolutions on tensor cores), as the
  official code runs its super-resolution in fp16; 'tf32' (alone or as 'tf32+fp16') lets every stage
  use TF32 tensor cores. ``trigrid_precision`` (default: ``precision`` without autocast) is the
  tri-grid synthesis network's; it is separate because the tri-grid sets the density, so rounding
  there moves the mask (about 0.05 on the bundled model in fp16) where rounding in the
  super-resolution only perturbs colours. Rays, tri-grid sampling, the decoder and compositing never
  run under autocast: the importance sampler amplifies rounding.
- ``skip_empty``: a coarse occupancy grid per tri-grid (:mod:`panohead.rendering.occupancy`, the two
  most recent kept); samples in empty cells are not evaluated. Heads with little empty space (over 90%
  of cells occupied, e.g. untrained models) keep the plain field, which is then faster.
- ``cuda_graph``: every stage above has fixed shapes while orbiting, so each is captured once per
  shape and settings (:class:`panohead.graphs.GraphedCall`) and replayed, removing the launch
  overhead of a few hundred small kernels. CUDA only, and not with ``skip_empty`` (skipping has
  data-dependent shapes: then every stage is eager). Any capture failure falls back to eager
  rendering for good (``graph_error`` says why), so an app never crashes because of it; results are
  fresh tensors either way. A graph holds a private memory pool as large as its stage's
  intermediates: :meth:`FastRenderer.release` frees them at once (a dropped renderer frees them too,
  by reference counting alone). The stages read nothing but their arguments and the generator's
  weights, whose addresses stay fixed while a model is open.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from panohead.generator import PanoHeadGenerator
from panohead.graphs import GraphedCall
from panohead.precision import Precision
from panohead.rendering.occupancy import OccupancyGrid, build_occupancy, skipping_field
from panohead.rendering.volume import Field
from panohead.views.stages import Content, compose_image, march_volume

OCCUPANCY_KEPT = 2  # grids of the most recent tri-grids (the viewer keeps two heads)
WORTH_SKIPPING = 0.9  # skip empty space only when at most this fraction of cells is occupied


class FastRenderer:
    """Synthesis and rendering of ``G`` in stages, with the chosen fast paths (see the module docstring)."""

    def __init__(
        self,
        G: PanoHeadGenerator,
        precision: Precision | str = "fp32",
        trigrid_precision: Precision | str | None = None,
        skip_empty: bool = False,
        occupancy_resolution: int = 64,
        occupancy_threshold: float = 1e-3,
        cuda_graph: bool = False,
    ) -> None:
        self.G, self.skip_empty, self.cuda_graph = G, skip_empty, cuda_graph
        self.precision = Precision.parse(precision)
        self.trigrid_precision = (
            self.precision.float32 if trigrid_precision is None else Precision.parse(trigrid_precision)
        )
        self.occupancy_resolution, self.occupancy_threshold = occupancy_resolution, occupancy_threshold
        self._occupancy: list[tuple[torch.Tensor, OccupancyGrid]] = []  # most recent last
        self.graphs: dict[str, GraphedCall] = {}
        if cuda_graph and not skip_empty and G.device.type == "cuda":
            self.graphs = {
                "render": GraphedCall(self._march_eager, capacity=1),  # orbiting keeps one shape
                "super-resolution": GraphedCall(self._compose_eager, capacity=2),  # e.g. head and foreground
                "orbit": GraphedCall(self._orbit_eager),
                "new seed": GraphedCall(self._synthesize_eager),
            }

    @property
    def graph_error(self) -> str | None:
        """Why a graphed stage fell back to eager rendering (None while all replay or have not run)."""
        errors = [f"{name}: {graphed.error}" for name, graphed in self.graphs.items() if graphed.error]
        return "; ".join(errors) or None

    @property
    def replaying(self) -> bool:
        """Whether any stage currently holds a captured graph."""
        return any(graphed.captured for graphed in self.graphs.values())

    def release(self) -> None:
        """Free the captured graphs (their memory pools, static inputs and outputs) and the occupancy
        grids now, the pools handed back to the driver (e.g. before another model is loaded); the
        renderer stays usable and captures again on its next graphed call."""
        graphed = self.replaying
        for call in self.graphs.values():
            call.release()
        self._occupancy = []
        if graphed:
            torch.cuda.empty_cache()

    def _scope(self, precision: Precision) -> contextlib.AbstractContextManager:
        """``precision``'s scope on the generator's device, without the autocast weight cache (so that
        the same stage can be captured in a CUDA graph)."""
        return precision.scope(self.G.device, cache_enabled=False)

    # --- synthesis ------------------------------------------------------------------------------
    def mapping(
        self, z: torch.Tensor, c_cond: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        with self._scope(self.precision.float32):  # a few small matmuls: no autocast
            return self.G.mapping(z, c_cond, psi, cutoff)

    def planes(self, ws: torch.Tensor) -> torch.Tensor:
        """ws -> tri-grid (B, 3, C, D, H, W) in float32 (synthesised under ``trigrid_precision``)."""
        with self._scope(self.trigrid_precision):
            return self.G.synthesize_planes(ws).float()

    def background(self, ws: torch.Tensor) -> torch.Tensor | None:
        """ws -> background features (B, C, Rb, Rb) in float32, or None for a model without them."""
        with self._scope(self.precision):
            background = self.G.synthesize_background(ws)
        return None if background is None else background.float()

    def superres(self, image_raw: torch.Tensor, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        with self._scope(self.precision):
            return self.G.superres(image_raw, features, ws).float()

    # --- empty-space skipping -------------------------------------------------------------------
    def holds_occupancy(self, planes: torch.Tensor) -> bool:
        """Whether the occupancy grid of this tri-grid tensor is built already."""
        return any(kept is planes for kept, _ in self._occupancy)

    def occupancy(self, planes: torch.Tensor) -> OccupancyGrid:
        """The occupancy grid of ``planes``, built once per tri-grid tensor."""
        for index, (kept, grid) in enumerate(self._occupancy):
            if kept is planes:
                self._occupancy.append(self._occupancy.pop(index))
                return grid
        with self._scope(self.precision.float32):
            grid = build_occupancy(self.G, planes, self.occupancy_resolution, self.occupancy_threshold)
        self._occupancy = [*self._occupancy[1 - OCCUPANCY_KEPT :], (planes, grid)]
        return grid

    def field(self, planes: torch.Tensor) -> Field | None:
        """The field skipping empty space in ``planes``, or None for the plain field (skipping off, or
        too little empty space to gain from it)."""
        if not self.skip_empty:
            return None
        grid = self.occupancy(planes)
        return None if grid.fraction > WORTH_SKIPPING else skipping_field(self.G.field, planes, grid)

    # --- the two stages of a view ---------------------------------------------------------------
    def march(
        self, planes: torch.Tensor, ws: torch.Tensor, label: torch.Tensor, neural: int | None = None
    ) -> dict[str, torch.Tensor]:
        """:func:`~panohead.views.stages.march_volume` of ``planes`` from camera ``label`` at ``neural``^2
        rays (default: the model's): {foreground, weight_sum, depth}; no background, no SR."""
        neural = neural or self.G.config.neural_resolution
        graphed = self.graphs.get("render")
        if graphed is None:
            return self._march_eager(planes, ws, label, neural=neural)
        return graphed(planes, ws, label, neural=neural)

    def _march_eager(self, planes, ws, label, neural: int) -> dict[str, torch.Tensor]:
        with self._scope(self.precision.float32):
            return march_volume(self.G, planes, ws, label, neural, self.field(planes))

    def compose(
        self,
        foreground: torch.Tensor,
        weight_sum: torch.Tensor,
        background: torch.Tensor | None,
        ws: torch.Tensor,
        content: Content = "head",
        superresolve: bool = True,
    ) -> dict[str, torch.Tensor]:
        """:func:`~panohead.views.stages.compose_image` (Eq. 3, to_rgb, super-resolution under ``precision``):
        {"raw": (3, n, n), "image": (3, R, R)} in [-1, 1]."""
        graphed = self.graphs.get("super-resolution")
        call = self._compose_eager if graphed is None else graphed
        return call(foreground, weight_sum, background, ws, content=content, superresolve=superresolve)

    def _compose_eager(
        self, foreground, weight_sum, background, ws, content: Content = "head", superresolve: bool = True
    ):
        with self._scope(self.precision.float32):
            return compose_image(
                self.G, foreground, weight_sum, background, ws, content, superresolve, precision=self.precision
            )

    # --- whole frames ---------------------------------------------------------------------------
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
        if background is None and G.background is not None:
            background = self.background(ws)
        with self._scope(self.precision.float32):
            out = G.render(
                planes,
                ws,
                c_render,
                background=background,
                neural_resolution=neural_resolution,
                superresolve=False,
                field=self.field(planes),
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

        Replayed from a CUDA graph per (shape, ``psi``) when graphs are on.
        """
        graphed = self.graphs.get("new seed")
        call = self._synthesize_eager if graphed is None else graphed
        return call(z, c_cond, c_render, psi=psi)

    def _synthesize_eager(self, z, c_cond, c_render, psi: float = 1.0) -> torch.Tensor:
        ws = self.mapping(z, c_cond, psi)
        return self.render(self.planes(ws), ws, c_render, self.background(ws))["image"]

    def _orbit_eager(self, planes, ws, c_render, background) -> torch.Tensor:
        return self.render(planes, ws, c_render, background)["image"]

    def orbit(
        self, planes: torch.Tensor, ws: torch.Tensor, c_render: torch.Tensor, background: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One orbit frame of a cached head -> image (B, 3, R, R)."""
        graphed = self.graphs.get("orbit")
        if graphed is None:
            return self._orbit_eager(planes, ws, c_render, background)
        return graphed(planes, ws, c_render, background)


def renderer_for(
    current: FastRenderer | None, G: PanoHeadGenerator, precision: Precision, cuda_graph: bool
) -> FastRenderer:
    """``current`` when it renders ``G`` at ``precision`` with ``cuda_graph``, else a new staged renderer
    (``current`` released first: graphs bake the precision in). A CPU skips empty space; CUDA may
    replay graphs. The viewer keeps one renderer this way across frames."""
    if current is not None:
        if current.G is G and current.precision == precision and current.cuda_graph == cuda_graph:
            return current
        current.release()
    return FastRenderer(G, precision, skip_empty=G.device.type == "cpu", cuda_graph=cuda_graph)
