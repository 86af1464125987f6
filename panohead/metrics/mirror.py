"""Mirrored-face score: how much the back of a head looks like its own face seen in a mirror.

A tri-plane reads the same xy-plane feature at (x, y, z) and (x, y, -z), so a tri-plane head tends to
show a copy of its face on the back of the head (PanoHead Sec. 3.2, "mirrored face" artifact); the
tri-grid's depth axis removes that coupling. The camera at yaw 180 sees world +x on the image's left,
so the back view of a perfectly mirrored head equals the *horizontally flipped* front view.

Definition. For each seed, condition on the frontal camera and render, at the neural rendering
resolution (before super-resolution, whose convolutions are not mirror-equivariant and cannot
create or remove a 3D artifact), the head's own colour to_rgb(I_r) (background excluded), its
opacity I_m and its depth, from yaw 0 (front) and yaw 180 (back). Flip the front render
horizontally; pixel p of both images now looks along mirrored rays. The score is the weighted
correlation of the two colour images a (flipped front) and b (back) over pixels and RGB channels,

    score = sum w a' b' / sqrt(sum w a'^2 * sum w b'^2),   a' = a - rowmean_w(a),  b' = b - rowmean_w(b)

where every image row of every channel is centred on its own weighted mean. Row centring compares
the left-right structure within rows (eyes, nose, mouth side by side); a top-to-bottom change of
colour (hair above, skin below) is shared by the front and back of any head and is not the artifact.
The weight is

    w = flip(I_m front) * I_m back * min(1, |P_front - P_back| / separation)

where P are the rendered surface points. The last factor leaves out the silhouette ring (the sides
of the head), which both cameras see as the *same* surface mirrored, so any head, mirrored or not,
would correlate there; ``separation`` defaults to 0.1 world units (the tri-grid box is 1 unit wide).
1 means the back is the mirrored face (up to brightness and contrast), about 0 means unrelated front
and back. A semi-transparent volume looks the same, mirrored, from both sides (front and back rays
cross the same points), so the score speaks about opaque heads, i.e. trained models; an untrained
generator's diffuse cloud scores high. The reported number is the mean over seeds; a seed whose weight
covers under 0.1 % of the image has no score (NaN) and is left out of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from panohead.generator import PanoHeadGenerator
from panohead.metrics.views import batches, render_views, seed_latents, surface_points
from panohead.views.camera import frontal_camera, orbit_camera

FRONT_YAW, BACK_YAW = 0.0, 180.0
SEPARATION = 0.1  # world units; the two surface points must be this far apart to count fully
MIN_OVERLAP = 1e-3  # fraction of pixels; below this a pair has no score (NaN)


def mirror_weight(
    front_mask: torch.Tensor,
    back_mask: torch.Tensor,
    front_points: torch.Tensor | None = None,
    back_points: torch.Tensor | None = None,
    separation: float = SEPARATION,
) -> torch.Tensor:
    """Per-pixel weight (B, 1, H, W) of the comparison: head in both views, different surface points.

    Masks (B, 1, H, W) in [0, 1]; points (B, 3, H, W) world positions (optional: without them the
    silhouette ring counts too). The front inputs are the *unflipped* front render.
    """
    weight = front_mask.flip(-1).clamp(0, 1) * back_mask.clamp(0, 1)
    if front_points is not None and back_points is not None:
        distance = (front_points.flip(-1) - back_points).norm(dim=1, keepdim=True)
        weight = weight * (distance / separation).clamp(max=1.0)
    return weight


def mirror_similarity(front: torch.Tensor, back: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Row-centred weighted correlation of ``back`` with the flipped ``front`` (see module docstring).

    front, back: (B, C, H, W); weight (B, 1, H, W) from :func:`mirror_weight`. Returns (B,), NaN where
    the weight covers less than ``MIN_OVERLAP`` of the image.
    """
    weight = weight.double()
    total = weight.sum(dim=(1, 2, 3))
    row_weight = weight.sum(dim=3, keepdim=True).clamp_min(1e-12)
    centre = lambda x: x - (weight * x).sum(dim=3, keepdim=True) / row_weight  # noqa: E731
    a, b = centre(front.flip(-1).double()), centre(back.double())
    covariance = (weight * a * b).sum(dim=(1, 2, 3))
    spread = ((weight * a * a).sum(dim=(1, 2, 3)) * (weight * b * b).sum(dim=(1, 2, 3))).sqrt()
    score = covariance / spread.clamp_min(1e-12)
    overlap = total / weight[0].numel()
    return torch.where(overlap > MIN_OVERLAP, score, torch.full_like(score, float("nan"))).float()


@torch.no_grad()
def mirrored_face_scores(
    generator: PanoHeadGenerator,
    seeds: Sequence[int],
    psi: float = 1.0,
    batch_size: int = 8,
    separation: float = SEPARATION,
    progress: bool = False,
) -> torch.Tensor:
    """Per-seed mirrored-face scores (len(seeds),), NaN for seeds without a usable overlap."""
    z_all = seed_latents(generator, seeds)
    cameras = orbit_camera([FRONT_YAW, BACK_YAW], 0.0, generator)
    scores = []
    for part in tqdm(list(batches(len(seeds), batch_size)), desc="mirrored-face", unit="batch", disable=not progress):
        z = z_all[part]
        out = render_views(generator, z, frontal_camera(generator, z.shape[0]), cameras, psi=psi)
        pairs = (z.shape[0], 2)  # (heads, front/back)
        rgb, mask = out["head_rgb"].unflatten(0, pairs), out["weight_sum"].unflatten(0, pairs)
        points = surface_points(out["cameras"], out["depth"]).unflatten(0, pairs)
        weight = mirror_weight(mask[:, 0], mask[:, 1], points[:, 0], points[:, 1], separation)
        scores.append(mirror_similarity(rgb[:, 0], rgb[:, 1], weight).cpu())
    return torch.cat(scores)


def mirrored_face_score(
    generator: PanoHeadGenerator, seeds: Sequence[int], psi: float = 1.0, batch_size: int = 8, progress: bool = False
) -> float:
    """Mean mirrored-face score over ``seeds`` (higher = more of the face copied onto the back).

    Stable entry point for ablations: ``mirrored_face_score(G, range(64))``. NaN only if no seed
    has a usable front/back overlap.
    """
    return float(torch.nanmean(mirrored_face_scores(generator, seeds, psi, batch_size, progress=progress)))
