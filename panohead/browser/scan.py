"""Render heads from four yaws and score them: the seed browser's engine and the viewer's live scores.

Every head is rendered once, at the neural rendering resolution (no super-resolution), from yaw 0,
90, 180 and 270 (conditioned on the frontal camera, as ``panohead generate`` does). Those four
renders are the thumbnails and feed both scores, computed by the metric modules themselves:

- mirrored-face score (``metrics.mirror``): the back view (yaw 180) against the flipped front view
  (yaw 0); 1 = the back of the head is a mirrored copy of the face, about 0 = unrelated;
- multi-view consistency (``metrics.consistency``): each view warped into its neighbour on the
  closed 90-degree orbit through the rendered depth; PSNR in dB, higher = the head keeps its colours
  when the camera turns (equal to ``multiview_consistency(G, [seed], yaw_step=90)``).

Thumbnails show the head over flat grey (the background network is not run: it costs time and hides
nothing a triage needs). ``resolution`` renders at another neural resolution than the model's (a
smaller one browses faster on the CPU; the scores then measure that render; the app and
``panohead browse`` use :func:`default_resolution`). Batches keep the GPU busy; on the CPU a batch of
one head yields each result as soon as it exists. On the CPU the renderer skips the samples outside
the box crop and reads channels-last tri-grids (:mod:`panohead.rendering`), bit for bit the same images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from panohead.generator import PanoHeadGenerator
from panohead.images import to_uint8
from panohead.metrics.consistency import orbit_sums
from panohead.metrics.mirror import mirror_similarity, mirror_weight
from panohead.metrics.views import batches, render_ws_views, seed_latents, surface_points
from panohead.views.camera import frontal_camera, orbit_camera

YAWS = (0.0, 90.0, 180.0, 270.0)  # degrees; the orbit order the consistency warps follow
FRONT, BACK = 0, 2  # indices into YAWS
GREY = 0.4  # thumbnail backdrop, in the generator's [-1, 1] range
# The CPU browses at this neural resolution (4x fewer rays than the bundled model's 64), so the first
# page arrives within seconds; a GPU renders at the model's own resolution.
CPU_RESOLUTION = 32


@dataclass(frozen=True)
class SeedScore:
    """One head's scores. ``mirror`` NaN: front and back share too few pixels to compare;
    ``consistency`` (PSNR, dB) NaN: no pixel of one view is seen by its neighbour."""

    seed: int
    mirror: float
    consistency: float
    error: float  # mean absolute RGB difference of the warped pixels (images in [-1, 1])
    coverage: float  # warped pixels / opaque pixels


@dataclass(frozen=True)
class HeadViews:
    """A scored head and its thumbnails (len(YAWS), size, size, 3) uint8, in YAWS order."""

    score: SeedScore
    thumbnails: np.ndarray


def default_batch(device: torch.device) -> int:
    """Heads per batch: many on a GPU (throughput), one on the CPU (each result shown as it comes)."""
    return 16 if device.type == "cuda" else 1


def default_page(device: torch.device) -> int:
    """Seeds browsed at once by default (the app's Browse tab, ``panohead browse``'s first progress
    report): a screenful on the CPU, where the first page should take seconds, many on a GPU."""
    return 16 if device.type == "cpu" else 256


def default_resolution(device: torch.device) -> int | None:
    """Neural resolution seeds are browsed at by default: ``CPU_RESOLUTION`` on the CPU, else the model's
    own (None)."""
    return CPU_RESOLUTION if device.type == "cpu" else None


@torch.no_grad()
def score_heads(
    generator: PanoHeadGenerator,
    ws: torch.Tensor,
    seeds: Sequence[int],
    thumbnail: int = 64,
    resolution: int | None = None,
) -> list[HeadViews]:
    """Render heads ws (B, num_ws, w_dim) from YAWS, score them and make (thumbnail x thumbnail) images;
    ``seeds`` (B,) label the results."""
    views = len(YAWS)
    cameras = orbit_camera(torch.tensor(YAWS), 0.0, generator)
    out = render_ws_views(generator, ws, cameras, neural_resolution=resolution, with_background=False)
    per_head = lambda t: t.unflatten(0, (ws.shape[0], views))  # noqa: E731
    rgb, mask = per_head(out["head_rgb"]), per_head(out["weight_sum"])
    points = per_head(surface_points(out["cameras"], out["depth"]))
    weight = mirror_weight(mask[:, FRONT], mask[:, BACK], points[:, FRONT], points[:, BACK])
    mirror = mirror_similarity(rgb[:, FRONT], rgb[:, BACK], weight).tolist()
    images = out["weight_sum"] * out["head_rgb"] + (1 - out["weight_sum"]) * GREY
    if images.shape[-1] != thumbnail:
        images = F.interpolate(images, size=(thumbnail, thumbnail), mode="bilinear", antialias=True)
    thumbnails = to_uint8(images).reshape(ws.shape[0], views, thumbnail, thumbnail, 3)
    results = []
    for index, seed in enumerate(seeds):
        rows = slice(index * views, (index + 1) * views)
        summary = orbit_sums({key: out[key][rows] for key in ("head_rgb", "weight_sum", "depth", "cameras")}, views)
        numbers = summary.summary()
        score = SeedScore(int(seed), float(mirror[index]), numbers["psnr"], numbers["error"], numbers["coverage"])
        results.append(HeadViews(score, thumbnails[index]))
    return results


@torch.no_grad()
def score_seeds(
    generator: PanoHeadGenerator,
    seeds: Sequence[int],
    psi: float = 0.7,
    thumbnail: int = 64,
    resolution: int | None = None,
) -> list[HeadViews]:
    """:func:`score_heads` of seeds in one batch, each mapped from its seed's latent and the frontal camera."""
    z = seed_latents(generator, seeds)
    ws = generator.mapping(z, frontal_camera(generator, len(seeds)), psi=psi)
    return score_heads(generator, ws, seeds, thumbnail, resolution)


def scan_seeds(
    generator: PanoHeadGenerator,
    seeds: Sequence[int],
    psi: float = 0.7,
    batch_size: int | None = None,
    thumbnail: int = 64,
    resolution: int | None = None,
) -> Iterator[list[HeadViews]]:
    """Score ``seeds`` batch by batch (see :func:`score_heads`), yielding each batch's results in seed
    order as soon as it is done; stop iterating to cancel."""
    batch_size = batch_size or default_batch(generator.device)
    for part in batches(len(seeds), batch_size):
        yield score_seeds(generator, list(seeds[part]), psi, thumbnail, resolution)
