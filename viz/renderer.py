"""The viewer's renderer: a pure function of a :class:`RenderRequest`, memoised stage by stage.

    ws      = mapping(z(seed), conditioning camera, psi)   cached by (model, the EditState less its camera)
              then style mixing and directions (panohead.editing.apply_edits)
    planes  = synthesize_planes(ws)                        cached by (model, the EditState less its camera)
    volume  = render(planes, camera) without SR            cached by (latent, camera, resolution)
    bg      = synthesize_background(ws or ws_bg)           cached by (model, background latent)
    image   = superres(to_rgb(Eq. 3 compose(volume, bg)))  cached by (volume, bg, quality)

So orbiting re-uses ws and the tri-grid, and swapping the background re-uses the ray-marched head.
Every key also holds the precision its stage ran at: TF32 rounds every stage, autocast only the last
two, so ws, planes and volume are keyed by the TF32 choice and bg and image by the whole precision
(fp32 -> fp16 re-uses the marched head; fp32 -> tf32 marches again). What each view shows is the
engine's (:mod:`panohead.views.modes`, shared with ``panohead video``), drawn from these cached
stages; the stages are the engine's staged renderer (:class:`panohead.fast.FastRenderer`): CUDA
graphs on CUDA with ``request.cuda_graphs``, empty-space skipping on a CPU, each frame in its
:class:`~panohead.precision.Precision` scope. A :class:`RenderResult` holds uint8 numpy images ready
for a texture, or a one-line ``error`` instead of an exception.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from panohead.devices import cudnn_benchmark, pick_device
from panohead.editing import Camera, EditState, Latent, compose
from panohead.editing.latents import latent_ws
from panohead.errors import USER_ERRORS, one_line
from panohead.fast import FastRenderer, renderer_for
from panohead.generator import PanoHeadGenerator
from panohead.views.images import background_picture
from panohead.views.modes import Picture, Replacement, flat_colour, head_view, mirror_view, slice_view
from panohead.views.trigrid import Cell, trigrid_mosaic
from viz.lru import LruCache
from viz.models import ModelInfo, open_model
from viz.request import FileSpec, RenderRequest
from viz.stage_timer import StageTimer

log = logging.getLogger(__name__)
Quality = Literal["preview", "full"]  # CPU: a fast preview pass, then full quality; a GPU: full only


@dataclass
class RenderResult:
    request: RenderRequest
    quality: Quality  # "preview" (CPU: lower neural resolution, no super-resolution) or "full"
    image: np.ndarray | None = None  # (H, W, 4) uint8 as displayed (transparent pixels over the backdrop)
    rgba: np.ndarray | None = None  # (H, W, 4) uint8 before the backdrop; alpha = the view's transparency
    mask: np.ndarray | None = None  # (H, W) float32 foreground mask at the image size (head views)
    cells: tuple[Cell, ...] = ()  # labelled regions of mosaics (tri-grid, mirror)
    stats: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage actually computed
    model: ModelInfo | None = None  # None when the model itself could not be opened
    ws: np.ndarray | None = None  # (num_ws, w_dim), for saving the latent
    background_ws: np.ndarray | None = None  # (Nb, w_dim) the background network's ws (None without one)
    graphs: bool = False  # the render and super-resolution stages replay CUDA graphs (panohead.fast)
    graph_error: str | None = None  # why CUDA graphs fell back to eager rendering for this model
    error: str | None = None
    finished: float = field(default_factory=time.perf_counter)


def preview_resolution(neural_resolution: int) -> int:
    """Neural resolution of CPU previews: half the model's, at least 32 (and never above it)."""
    return min(neural_resolution, max(32, neural_resolution // 2))


def head_part(state: EditState) -> EditState:
    """What the head's ws and tri-grid depend on, as a cache key: the state less its camera (unless the
    seeds are conditioned on it) and less the background latent."""
    return state.replace(camera=state.camera if state.follows_camera else Camera(), background=None)


def background_source(state: EditState) -> Hashable:
    """What the background network's ws depend on, as a cache key: its latent (the head's own when None,
    before mixing and directions) and any mixing of it."""
    mapping = (state.psi, state.cutoff, state.conditioning, state.camera if state.follows_camera else None)
    source = (state.latent if state.background is None else state.background, mapping)
    mixing = state.mixing
    mixed = mixing.latent is not None and mixing.background_layers[0] < mixing.background_layers[1]
    return source, (mixing.latent, mixing.background_layers, mapping) if mixed else None


class Renderer:
    """``renderer(request, quality) -> RenderResult``; holds only caches, so equal requests give equal images."""

    def __init__(self) -> None:
        self.models = LruCache(1)
        self.seed_ws = LruCache(16)
        self.ws = LruCache(4)
        self.planes = LruCache(2)
        self.backgrounds = LruCache(4)
        self.volumes = LruCache(6)
        self.composites = LruCache(6)
        self.views = LruCache(4)
        self.files = LruCache(4)
        self.fast: FastRenderer | None = None  # the current model's stages (and their CUDA graphs)

    def __call__(self, request: RenderRequest, quality: Quality = "full") -> RenderResult:
        info = None
        try:
            device = pick_device(request.device)
            timer = StageTimer(device)
            model_key = (request.source, str(device))
            if model_key not in self.models.items:
                self.clear()  # another model: free the old one's tri-grids and images first
            G, info = self.model(request.source, request.device, timer)
            fast = self.fast = renderer_for(self.fast, G, request.precision.rendering_on(device), request.cuda_graphs)
            # A frame's few fixed shapes repeat while orbiting: cuDNN may time its kernels for them.
            with (
                torch.inference_mode(),
                cudnn_benchmark(True),
                fast.precision.float32.scope(device, cache_enabled=False),
            ):
                frame = _Frame(self, fast, model_key, request, quality, timer)
                picture = frame.draw()
                with timer("display"):
                    image, rgba, mask = picture.displayed(checkered=request.backdrop != "transparent")
            return RenderResult(
                request,
                quality,
                image=image,
                rgba=rgba,
                mask=mask,
                cells=picture.cells,
                stats=picture.stats,
                timings=timer.timings,
                model=info,
                ws=frame.ws[0].float().cpu().numpy(),
                background_ws=None if frame.background_ws is None else frame.background_ws[0].float().cpu().numpy(),
                graphs=fast.replaying,
                graph_error=fast.graph_error,
            )
        except USER_ERRORS as error:
            message = one_line(error)
        except torch.cuda.OutOfMemoryError:
            self.clear()
            message = "out of GPU memory: caches cleared; try a smaller model or --device cpu"
        except Exception as error:  # a bug: keep the app alive, show it, log the traceback
            log.exception("render failed")
            message = f"internal error: {type(error).__name__}: {one_line(error)}"
        return RenderResult(request, quality, model=info, error=message)

    def clear(self) -> None:
        for cache in vars(self).values():
            if isinstance(cache, LruCache):
                cache.clear()
        if self.fast is not None:
            self.fast.release()  # any CUDA graphs' memory pools go back to the driver with it
            self.fast = None

    def model(self, source: str, device: str, timer: StageTimer | None = None) -> tuple[PanoHeadGenerator, ModelInfo]:
        """The generator ``source`` names, shared with rendering (call on the render thread)."""
        target = pick_device(device)

        def load() -> tuple[PanoHeadGenerator, ModelInfo]:
            with (timer or StageTimer(target))("load"):
                return open_model(source, target)

        return self.models.get((source, str(target)), load)

    def _ws(self, G: PanoHeadGenerator, key: Hashable, latent: Latent, state: EditState, timer: StageTimer):
        """ws (1, num_ws, w_dim) of one of the state's latents, mapped under its conditioning and truncation
        (``key``: the model's and the precision's part of the cache key)."""
        if latent.ws is not None:
            return latent_ws(G, latent, None)

        def mapping() -> torch.Tensor:
            with timer("mapping"):
                return latent_ws(G, latent, state.conditioning_label(G), state.psi, state.cutoff)

        camera = state.camera if state.follows_camera else None
        return self.seed_ws.get((key, latent, state.psi, state.cutoff, state.conditioning, camera), mapping)

    def image_file(self, spec: FileSpec, size: int, device: torch.device) -> torch.Tensor:
        """(3, size, size) in [0, 1]: the picture centre-cropped to a square and resized (cached)."""
        return self.files.get((spec, size, str(device)), lambda: background_picture(spec.path, size, device))


class _Frame:
    """One request's drawing from its renderer's caches: the head's ws and tri-grid on construction,
    the stages and views on demand (kept apart so __call__ reads in one go)."""

    def __init__(
        self,
        renderer: Renderer,
        fast: FastRenderer,
        model_key: tuple,
        request: RenderRequest,
        quality: Quality,
        timer: StageTimer,
    ) -> None:
        self.r, self.fast, self.G, self.device = renderer, fast, fast.G, fast.G.device
        self.request, self.quality, self.timer = request, quality, timer
        edit = request.edit
        # TF32 rounds every float32 stage (mapping, tri-grid, march, slices); autocast never reaches them.
        exact = (model_key, fast.precision.float32)
        self.head_key, self.background_key = (exact, head_part(edit)), (exact, background_source(edit))
        self.ws, self.background_ws = renderer.ws.get(
            (self.head_key, self.background_key),
            lambda: compose(self.G, edit, lambda latent: renderer._ws(self.G, exact, latent, edit, timer)),
        )
        self.planes = renderer.planes.get(self.head_key, self._synthesize)
        cfg = self.G.config
        self.neural = cfg.neural_resolution if quality == "full" else preview_resolution(cfg.neural_resolution)

    def _synthesize(self) -> torch.Tensor:
        with self.timer("tri-grid"):
            return self.fast.planes(self.ws)

    # --- stages ---------------------------------------------------------------------------------
    def volume(self, camera) -> dict[str, torch.Tensor]:
        """Ray-marched head (no background, no SR): foreground, weight_sum, depth at the neural resolution."""
        fast = self.fast

        def march() -> dict[str, torch.Tensor]:
            # A CPU skips empty space (same images; docs/performance.md: about 2x faster rendering of the
            # bundled model at full quality), its occupancy grid built once per head.
            if fast.skip_empty and not fast.holds_occupancy(self.planes):
                with self.timer("occupancy"):
                    fast.occupancy(self.planes)
            with self.timer("render"):
                return fast.march(self.planes, self.ws, camera.label(self.G), self.neural)

        return self.r.volumes.get((self.head_key, camera, self.neural), march)

    def background_features(self) -> tuple[torch.Tensor | None, Hashable]:
        """Background feature image (1, C, Rb, Rb) behind the head, and its cache key."""
        if self.G.background is None:
            return None, "none"

        def synthesize() -> torch.Tensor | None:
            with self.timer("background"):
                return self.fast.background(self.background_ws)

        key = (self.background_key, self.fast.precision)
        return self.r.backgrounds.get(key, synthesize), key

    def composite(self, camera, content: str = "head") -> dict[str, torch.Tensor]:
        """Eq. 3 + to_rgb, then super-resolution at full quality: {"raw": (3, n, n), "image": (3, R, R)} in [-1, 1].

        ``content`` is "head" (head over its background), "foreground" (no background) or "background".
        Previews skip super-resolution ("image" is "raw").
        """
        volume = self.volume(camera)
        background, bg_key = (None, "none") if content == "foreground" else self.background_features()

        def compose() -> dict[str, torch.Tensor]:
            # Compositing and to_rgb are a few small kernels; timed with the super-resolution they feed.
            with self.timer("super-resolution") if self.quality == "full" else contextlib.nullcontext():
                return self.fast.compose(
                    volume["foreground"],
                    volume["weight_sum"],
                    background,
                    self.ws,
                    content=content,
                    superresolve=self.quality == "full",
                )

        key = (self.head_key, self.fast.precision, camera, self.neural, bg_key, content, self.quality)
        return self.r.composites.get(key, compose)

    # --- the engine's view stages (panohead.views.modes.Stages) ----------------------------------------
    @property
    def output_size(self) -> int:
        return self.G.config.image_resolution if self.quality == "full" else self.neural

    def label(self, camera: Camera) -> torch.Tensor:
        return camera.label(self.G)

    def replacement(self) -> Replacement | None:
        """The picture or colour replacing the background, or None."""
        spec = self.request.background
        if spec.mode == "image":
            return lambda size: self.r.image_file(spec.image, size, self.device)
        if spec.mode == "colour":
            return flat_colour(spec.colour, self.device)
        return None

    # --- views ----------------------------------------------------------------------------------
    def draw(self) -> Picture:
        """The request's view, from the engine's view functions over this renderer's caches."""
        request = self.request
        if request.target == "trigrid":
            spec, cfg = request.trigrid, self.G.config

            def inspect() -> Picture:
                with self.timer("inspector"):
                    image, cells = trigrid_mosaic(self.planes, spec, cfg.box_warp, cfg.plane_layout)
                    return Picture(image, cells=tuple(cells))

            return self.r.views.get((self.head_key, spec), inspect)
        if request.target == "mirror":
            return mirror_view(self, request.edit.camera)
        if request.mode in ("density", "colour"):
            assert request.slice is not None, "the density and colour views carry their slice plane"
            (axis, offset), size = request.slice, 2 * self.neural

            def sample() -> Picture:
                with self.timer("slice"):
                    return slice_view(self.G, self.planes, self.ws, request.mode, axis, offset, size)

            return self.r.views.get((self.head_key, request.mode, axis, offset, size), sample)
        transparent = request.background.mode == "transparent"
        return head_view(self, request.edit.camera, request.mode, self.replacement(), transparent)
