"""The two stages every view of a head is drawn from, as pure functions.

    volume = march_volume(G, planes, ws, label, neural)                # ray-marched head, no SR
    images = compose_image(G, foreground, weight_sum, background, ws,  # Eq. 3 + to_rgb + SR
                           content=..., superresolve=..., precision=...)

Splitting the render here lets the viewer cache the ray-marched head per camera and swap the
background or the super-resolution without marching again; they read nothing but their arguments
and the generator's weights, so :class:`panohead.fast.FastRenderer` can also replay them as CUDA graphs.
"""

from __future__ import annotations

from typing import Literal

import torch

from panohead.generator import PanoHeadGenerator
from panohead.precision import FP32, Precision
from panohead.rendering.volume import Field

# What a composite shows: the head over the background (Eq. 3), the head alone, or the background alone.
Content = Literal["head", "foreground", "background"]

VOLUME_OUTPUTS = ("foreground", "weight_sum", "depth")


def march_volume(
    G: PanoHeadGenerator,
    planes: torch.Tensor,
    ws: torch.Tensor,
    label: torch.Tensor,
    neural: int,
    field: Field | None = None,
) -> dict[str, torch.Tensor]:
    """Ray-march cached ``planes`` (1, 3, C, D, H, W) from camera ``label`` (1, 25) at ``neural``^2 rays:
    {foreground (1, C, n, n), weight_sum (1, 1, n, n), depth (1, 1, n, n)}; no background, no SR.

    ``field`` replaces the plain field (empty-space skipping, :meth:`panohead.fast.FastRenderer.field`).
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
    content: Content = "head",
    superresolve: bool = True,
    precision: Precision = FP32,
) -> dict[str, torch.Tensor]:
    """Eq. 3 over ``background`` (1, C, Rb, Rb) or None, to_rgb, then super-resolution:
    {"raw": (3, n, n), "image": (3, R, R)} in [-1, 1] ("image" is "raw" without super-resolution).

    ``content`` "background" composes the background alone (the head's I_r and I_m as zeros); the
    super-resolution runs under ``precision``'s autocast (compositing and to_rgb in float32).
    """
    if content == "background":
        foreground, weight_sum = torch.zeros_like(foreground), torch.zeros_like(weight_sum)
    features, _ = G.compose(foreground, weight_sum, background)
    raw = G.to_rgb(features, ws)
    if not superresolve:
        return {"raw": raw[0], "image": raw[0]}
    with precision.autocast(raw.device, cache_enabled=False):
        return {"raw": raw[0], "image": G.superres(raw, features, ws)[0].float()}
