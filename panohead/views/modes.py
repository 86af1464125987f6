"""What each view of a head shows, drawn from the two stages of :mod:`panohead.views.stages`.

    stages = HeadStages(G, planes, ws, background)          # or the viewer's cached stages
    picture = head_view(stages, camera, "depth")            # final, raw, mask, depth, normals, ...
    picture = slice_view(G, planes, ws, "density", "z", 0.0, size)
    picture = mirror_view(stages, camera)                   # front | mirrored back | difference

The viewer (:mod:`viz.renderer`, cached per stage) and ``panohead video`` (:mod:`panohead.export.video`)
both draw through these functions, so a mode looks the same on screen and in a video.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

import numpy as np
import torch
import torch.nn.functional as F
from typing_extensions import TypeIs

from panohead.generator import PanoHeadGenerator
from panohead.metrics.mirror import mirror_similarity, mirror_weight
from panohead.metrics.views import surface_points
from panohead.rendering.volume import crop_outside_box
from panohead.views.images import (
    AXIS_INDEX,
    Axis,
    checkerboard,
    colormap,
    depth_image,
    normals_from_depth,
    over,
    resize,
    slice_points,
    to_rgba8,
    to_unit,
)
from panohead.views.stages import Content, compose_image, march_volume
from panohead.views.trigrid import Cell, mosaic

# Views of the head from a camera; the slices (density, colour) cut the volume along an axis instead.
# In the order the viewer lists them.
HeadMode = Literal["final", "raw", "mask", "depth", "normals", "background", "foreground"]
SliceMode = Literal["density", "colour"]
ViewMode = Literal[HeadMode, SliceMode]
HEAD_MODES: tuple[HeadMode, ...] = get_args(HeadMode)
SLICE_MODES: tuple[SliceMode, ...] = get_args(SliceMode)
MODES: tuple[ViewMode, ...] = get_args(ViewMode)


def is_slice_mode(mode: str) -> TypeIs[SliceMode]:
    """Whether ``mode`` cuts the volume (:func:`slice_view`) rather than looking at the head (:func:`head_view`)."""
    return mode in SLICE_MODES


SLAB = 1.0 / 32.0  # density slices show the opacity of a slab this fraction of the box thick

# A picture or flat colour (3, size, size) in [0, 1] replacing the model's background, by its side.
Replacement = Callable[[int], torch.Tensor]


@dataclass
class Picture:
    """One view: ``rgb`` (3, H, W) in [0, 1]; ``alpha`` (1, H, W) where the view has transparency;
    ``mask`` (1, h, w) the head's opacity (head views); labelled ``cells`` of mosaics; ``stats``."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    cells: tuple[Cell, ...] = ()
    stats: dict[str, float] = field(default_factory=dict)

    def displayed(self, checkered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The picture as a screen shows it, (H, W, 4) uint8: transparent pixels over a checkerboard
        when ``checkered``, else left transparent; the picture before any backdrop (the same array when
        nothing was laid behind it); and the mask (H, W) float32 at the picture's size, or None."""
        rgb, alpha = self.rgb, self.alpha
        rgba = to_rgba8(rgb, alpha)
        shown = rgba
        if alpha is not None and checkered:
            height, width = rgb.shape[1:]
            shown = to_rgba8(over(rgb, alpha, checkerboard(height, width, max(4, width // 32), rgb.device)))
        image = shown.cpu().numpy()
        mask = None if self.mask is None else resize(self.mask, rgb.shape[-1])[0].float().cpu().numpy()
        return image, image if shown is rgba else rgba.cpu().numpy(), mask


class Stages(Protocol):
    """The two stages of one head, for any hashable orbit ``camera`` with a ``yaw`` in degrees."""

    G: PanoHeadGenerator
    ws: torch.Tensor  # (1, num_ws, w_dim)
    device: torch.device
    output_size: int  # side of the views' images: the super-resolved size, or the neural one without it

    def label(self, camera: Hashable) -> torch.Tensor:
        """(1, 25) label of ``camera``."""
        ...

    def volume(self, camera: Hashable) -> dict[str, torch.Tensor]:
        """:func:`march_volume` from ``camera``."""
        ...

    def composite(self, camera: Hashable, content: Content = "head") -> dict[str, torch.Tensor]:
        """:func:`compose_image` from ``camera``: {"raw": (3, n, n), "image": (3, R, R)} in [-1, 1]."""
        ...


class HeadStages:
    """Uncached :class:`Stages` of one head (what a video needs: every frame is a new camera).

    ``background`` (1, C, Rb, Rb) is the head's background features (None: the model has none);
    ``superresolve`` False gives the neural-resolution images only ("image" is "raw").
    """

    def __init__(
        self,
        G: PanoHeadGenerator,
        planes: torch.Tensor,
        ws: torch.Tensor,
        background: torch.Tensor | None,
        superresolve: bool = True,
    ) -> None:
        self.G, self.planes, self.ws, self.background = G, planes, ws, background
        self.device = planes.device
        self.superresolve = superresolve
        cfg = G.config
        self.output_size = cfg.image_resolution if superresolve else cfg.neural_resolution

    def label(self, camera: Hashable) -> torch.Tensor:
        return camera.label(self.G)

    def volume(self, camera: Hashable) -> dict[str, torch.Tensor]:
        return march_volume(self.G, self.planes, self.ws, self.label(camera), self.G.config.neural_resolution)

    def composite(self, camera: Hashable, content: Content = "head") -> dict[str, torch.Tensor]:
        volume = self.volume(camera)
        background = None if content == "foreground" else self.background
        return compose_image(
            self.G,
            volume["foreground"],
            volume["weight_sum"],
            background,
            self.ws,
            content=content,
            superresolve=self.superresolve,
        )


def flat_colour(colour: tuple[float, float, float], device: torch.device) -> Replacement:
    """A :data:`Replacement` of one colour (sRGB in [0, 1])."""
    value = torch.tensor(colour, device=device, dtype=torch.float32).reshape(3, 1, 1)
    return lambda size: value.expand(3, size, size)


def head_view(
    stages: Stages,
    camera: Hashable,
    mode: HeadMode,
    replacement: Replacement | None = None,
    transparent: bool = False,
) -> Picture:
    """The head seen from ``camera`` in one of :data:`HEAD_MODES`.

    final: the super-resolved image (Eq. 3 over the background); foreground: the head alone, its mask
    as alpha; background: the background alone; raw: the final image before super-resolution; mask:
    the accumulated opacity; depth: near bright, far dark; normals: camera-space normals of the depth.
    Behind the head in final and raw, ``replacement`` replaces the model's background and
    ``transparent`` leaves it out (alpha).
    """
    volume = stages.volume(camera)
    mask = volume["weight_sum"][0].clamp(0.0, 1.0)
    alpha = None
    if mode in ("final", "foreground", "background"):
        content = "head" if mode == "final" else mode
        if mode == "background" and (replacement is not None or transparent):
            size = stages.output_size
            if replacement is not None:
                rgb = replacement(size)
            else:
                rgb = torch.zeros(3, size, size, device=stages.device)
                alpha = torch.zeros(1, size, size, device=stages.device)
        else:
            rgb = to_unit(stages.composite(camera, content)["image"])
            size = rgb.shape[-1]
            if mode == "foreground" or (mode == "final" and transparent):
                alpha = resize(mask, size)
            elif mode == "final" and replacement is not None:
                rgb = over(rgb, resize(mask, size), replacement(size))
    elif mode == "raw":
        rgb = to_unit(stages.composite(camera)["raw"])
        if transparent:
            alpha = mask
        elif replacement is not None:
            rgb = over(rgb, mask, replacement(rgb.shape[-1]))
    elif mode == "mask":
        rgb = mask.expand(3, -1, -1)
    elif mode == "depth":
        rgb = depth_image(volume["depth"][0], mask)
    elif mode == "normals":
        rgb = normals_from_depth(volume["depth"][0], stages.label(camera), mask)
    else:
        raise ValueError(f"view mode must be one of {', '.join(HEAD_MODES)}, got {mode!r}")
    return Picture(rgb, alpha, mask)


def slice_view(
    G: PanoHeadGenerator,
    planes: torch.Tensor,
    ws: torch.Tensor,
    kind: SliceMode,
    axis: Axis,
    offset: float,
    size: int,
) -> Picture:
    """Density (opacity of a thin slab, colour-mapped) or colour (to_rgb of the features, with that
    opacity as alpha) on the plane ``axis`` = ``offset`` through the volume, ``size`` pixels a side,
    sampled with ``G.sample`` from ``planes`` (1, 3, C, D, H, W) and ``ws`` (1, num_ws, w_dim).

    The renderer's crop of the box's sides applies, so the slice shows what rays integrate."""
    cfg = G.config
    points = slice_points(AXIS_INDEX[axis], offset, size, cfg.box_warp, planes.device)[None]
    out = G.sample(planes, points)
    sigma = crop_outside_box(points, out["sigma"], G.ray_settings())
    density = F.softplus(sigma.float() - 1.0)  # the renderer's activation (Eq. 1)
    opacity = (1.0 - torch.exp(-density * SLAB * cfg.box_warp)).reshape(1, size, size)
    if kind == "density":
        return Picture(colormap(opacity[0], "viridis"))
    if kind != "colour":
        raise ValueError(f"slice view must be one of {', '.join(SLICE_MODES)}, got {kind!r}")
    features = out["features"].transpose(1, 2).reshape(1, -1, size, size)
    return Picture(to_unit(G.to_rgb(features, ws)[0]), opacity)


def mirror_view(stages: Stages, camera: Hashable) -> Picture:
    """Front (yaw 0) | back (yaw 180) flipped left-right | their difference, and the mirrored-face
    score of :mod:`panohead.metrics.mirror` (the head's own colour at the neural resolution).

    ``camera`` gives the pitch, distance and lens; it is turned to yaw 0 and 180 (degrees)."""
    G = stages.G
    front_cam, back_cam = dataclasses.replace(camera, yaw=0.0), dataclasses.replace(camera, yaw=180.0)
    front_volume, back_volume = stages.volume(front_cam), stages.volume(back_cam)
    labels = torch.cat([stages.label(front_cam), stages.label(back_cam)])
    points = surface_points(labels, torch.cat([front_volume["depth"], back_volume["depth"]]))
    foregrounds = torch.cat([front_volume["foreground"], back_volume["foreground"]])
    colours = G.to_rgb(foregrounds, stages.ws.expand(2, -1, -1))
    weight = mirror_weight(front_volume["weight_sum"], back_volume["weight_sum"], points[:1], points[1:])
    similarity = float(mirror_similarity(colours[:1], colours[1:], weight)[0])
    front = to_unit(stages.composite(front_cam)["image"])
    back = to_unit(stages.composite(back_cam)["image"]).flip(-1)
    # Difference of the head colours as the score compares them (front and mirrored back), where it counts.
    shown_weight = weight[0].flip(-1)
    difference = (to_unit(colours[0]) - to_unit(colours[1]).flip(-1)).abs().mean(dim=0, keepdim=True)
    difference = (difference * 2.0).clamp(0, 1)
    heat = colormap(difference[0], "viridis") * (0.25 + 0.75 * (shown_weight > 0).float())
    score = "n/a" if math.isnan(similarity) else f"{similarity:+.2f}"
    names = [["front (yaw 0)", "back (yaw 180), mirrored", f"difference, score {score}"]]
    image, cells = mosaic([[front, back, resize(heat, front.shape[-1])]], names, [["image"] * 3])
    overlap = float((weight > 0).float().mean())
    return Picture(image, cells=tuple(cells), stats={"similarity": similarity, "overlap": overlap})
