"""The viewer's two fixed-shape GPU stages, as pure functions, and their CUDA graphs.

    volume = march_volume(G, planes, ws, label, neural)                # ray-marched head, no SR
    images = compose_image(G, foreground, weight_sum, background, ws,  # Eq. 3 + to_rgb + SR
                           content=..., superresolve=..., precision=...)

Orbiting changes only the camera label, so on CUDA both stages keep their shapes frame after frame:
:class:`StageGraphs` captures each once (per shape and settings) with
:class:`panohead.fast.GraphedCall` and replays it, which removes the launch cost of the few hundred
small kernels of a paper-config frame. The functions read nothing but their arguments and the
generator's weights (whose addresses stay fixed while a model is open; the renderer releases the
graphs when the model changes), and they never synchronise with the host, so they are capturable.
Any capture failure leaves that stage eager for good (``error`` says why); results are fresh tensors
either way, so the viewer's caches may keep them.
"""

from __future__ import annotations

import functools

import torch

from panohead.fast import GraphedCall, autocast
from panohead.generator import PanoHeadGenerator

VOLUME_OUTPUTS = ("foreground", "weight_sum", "depth")


def half_precision(precision: str, device: torch.device):
    """fp16 autocast for the super-resolution and background networks when the viewer's precision is
    'fp16' on CUDA (CPUs have no fast fp16: there it changes nothing). Rays, the tri-grid and
    compositing stay float32 (see panohead.fast)."""
    return autocast("fp16" if precision == "fp16" and device.type == "cuda" else "fp32", device)


def march_volume(
    G: PanoHeadGenerator,
    planes: torch.Tensor,
    ws: torch.Tensor,
    label: torch.Tensor,
    neural: int,
    field=None,
    precision: str = "fp32",
) -> dict[str, torch.Tensor]:
    """Ray-march cached ``planes`` (1, 3, C, D, H, W) from camera ``label`` (1, 25) at ``neural``^2 rays:
    {foreground (1, C, n, n), weight_sum (1, 1, n, n), depth (1, 1, n, n)}; no background, no SR.

    ``precision`` only keys the CUDA graph (TF32 is chosen when a graph is captured, so a graph
    per setting); ``field`` replaces the plain field (CPU empty-space skipping; never graphed).
    """
    empty = None
    if G.background is not None:  # zeros: G.render would otherwise synthesise the background
        empty = torch.zeros(1, G.config.plane_channels, 1, 1, device=planes.device)
    out = G.render(planes, ws, label, background=empty, neural_resolution=neural, superresolve=False, field=field)
    return {name: out[name] for name in VOLUME_OUTPUTS}


def compose_image(
    G: PanoHeadGenerator,
    foreground: torch.Tensor,
    weight_sum: torch.Tensor,
    background: torch.Tensor | None,
    ws: torch.Tensor,
    content: str = "head",
    superresolve: bool = True,
    precision: str = "fp32",
) -> dict[str, torch.Tensor]:
    """Eq. 3 over ``background`` (1, C, Rb, Rb) or None, to_rgb, then super-resolution:
    {"raw": (3, n, n), "image": (3, R, R)} in [-1, 1] ("image" is "raw" without super-resolution).

    ``content`` "background" composes the background alone (the head's I_r and I_m as zeros).
    """
    if content == "background":
        foreground, weight_sum = torch.zeros_like(foreground), torch.zeros_like(weight_sum)
    features, _ = G.compose(foreground, weight_sum, background)
    raw = G.to_rgb(features, ws)
    if not superresolve:
        return {"raw": raw[0], "image": raw[0]}
    with half_precision(precision, raw.device):
        return {"raw": raw[0], "image": G.superres(raw, features, ws)[0].float()}


class StageGraphs:
    """CUDA graphs of :func:`march_volume` and :func:`compose_image` for one generator ``G``.

    One march graph (orbiting keeps its one shape; a precision change captures again) and two
    compose graphs (e.g. the final image and the foreground view) are kept.
    """

    def __init__(self, G: PanoHeadGenerator) -> None:
        self.G = G
        self.march = GraphedCall(functools.partial(march_volume, G), capacity=1)
        self.compose = GraphedCall(functools.partial(compose_image, G), capacity=2)

    @property
    def error(self) -> str | None:
        """Why a stage fell back to eager rendering (None while both replay or have not run)."""
        errors = [
            f"{name}: {graphed.error}"
            for name, graphed in (("render", self.march), ("super-resolution", self.compose))
            if graphed.error
        ]
        return "; ".join(errors) or None

    @property
    def replaying(self) -> bool:
        """Whether any stage currently holds a captured graph."""
        return self.march.captured > 0 or self.compose.captured > 0

    def release(self) -> None:
        """Free both stages' graphs and memory pools (call ``torch.cuda.empty_cache()`` to return them)."""
        self.march.release()
        self.compose.release()
