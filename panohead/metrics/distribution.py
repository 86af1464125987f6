"""The paper's image-quality protocol: FID, KID and Inception Score over all / front / back views.

Splits follow the camera yaw (0 = face): *front* is |yaw| < 90 degrees, *back* is |yaw| >= 90.

* Real features: every dataset image (optionally the first ``max_real`` of a shuffled order), split by
  the yaw of its camera label.
* Generated images, ``num_samples`` per split: cameras drawn (with replacement, seeded) from the
  dataset labels of that split. For *all* and *front* the head is conditioned on and rendered from
  that camera (EG3D's protocol). For *back*, as in PanoHead, the head is conditioned on the frontal
  camera and rendered from the back camera, so FID-back measures the back of heads generated the way
  users generate them. Rendering cameras are shifted by the self-adaptation offset (Sec. 3.4), as in
  training, so the crops follow the dataset's alignment. Without a dataset (Inception Score only)
  the yaw is drawn uniformly within the split at pitch 0.
* FID and KID compare a split's generated features with the same split's real features; IS uses the
  generated logits alone. Images reach the feature extractor as uint8, like images read from files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from panohead.camera import label_to_orbit
from panohead.generator import PanoHeadGenerator
from panohead.images import to_uint8
from panohead.metrics.masks import seeded_latents
from panohead.metrics.statistics import fit_gaussian, frechet_distance, inception_score, kernel_inception_distance
from panohead.metrics.views import batches, render_views
from panohead.views.camera import frontal_camera, orbit_camera

Split = Literal["all", "front", "back"]  # all yaws, the front half, or the back half of the orbit
SPLITS: tuple[Split, ...] = get_args(Split)
SPLIT_YAW_RANGES: dict[Split, tuple[float, float]] = {
    "all": (-180.0, 180.0),
    "front": (-90.0, 90.0),
    "back": (90.0, 270.0),
}
# extractor(uint8 images (B, 3, H, W)) -> features (B, D), classifier logits (B, K) or None
Extractor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class Features:
    """Feature vectors (N, D) and, when the extractor classifies, logits (N, K)."""

    features: np.ndarray
    logits: np.ndarray | None

    def subset(self, keep: np.ndarray) -> Features:
        return Features(self.features[keep], None if self.logits is None else self.logits[keep])


def image_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) images in [-1, 1] -> uint8 (B, 3, H, W), the same rounding as saving a PNG."""
    return torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2)


def in_split(yaw_degrees: np.ndarray, split: str) -> np.ndarray:
    """Boolean mask (N,) of cameras whose yaw (degrees, any wrap) belongs to ``split``."""
    yaw = (np.asarray(yaw_degrees) + 180.0) % 360.0 - 180.0
    if split == "front":
        return np.abs(yaw) < 90.0
    if split == "back":
        return np.abs(yaw) >= 90.0
    return np.ones_like(yaw, dtype=bool)


def extract(extractor: Extractor, images: torch.Tensor, device: torch.device) -> tuple[np.ndarray, np.ndarray | None]:
    features, logits = extractor(images.to(device))
    return features.float().cpu().numpy(), None if logits is None else logits.float().cpu().numpy()


def concatenate(parts: list[tuple[np.ndarray, np.ndarray | None]]) -> Features:
    logits = [p[1] for p in parts if p[1] is not None]  # all or none: one extractor made them
    return Features(np.concatenate([p[0] for p in parts]), np.concatenate(logits) if logits else None)


def collate_images_and_labels(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Only what the protocol needs; masks may be absent (None) and must not reach default collation."""
    return (
        torch.stack([torch.as_tensor(item["image"]) for item in items]),
        torch.stack([torch.as_tensor(item["label"], dtype=torch.float32) for item in items]),
    )


@torch.no_grad()
def real_features(
    dataset: Sequence[dict],
    extractor: Extractor,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    max_real: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Features, torch.Tensor]:
    """Features of the dataset images and their labels (N, 25); with ``max_real`` a seeded random subset."""
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    source = dataset
    if max_real is not None and max_real < len(dataset):
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:max_real].tolist()
        source = torch.utils.data.Subset(dataset, order)
    loader = DataLoader(
        source, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_images_and_labels
    )
    parts, labels = [], []
    for images, label in tqdm(loader, desc="real images", unit="batch", disable=not progress):
        parts.append(extract(extractor, image_to_uint8(images.float()), device))
        labels.append(label)
    return concatenate(parts), torch.cat(labels)


def split_cameras(
    generator: PanoHeadGenerator, split: Split, count: int, seed: int, pool: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(conditioning, rendering) cameras (count, 25) for ``split`` (see module docstring)."""
    rng = torch.Generator().manual_seed(seed)
    if pool is not None and len(pool) > 0:
        render = pool[torch.randint(len(pool), (count,), generator=rng)].to(generator.device)
    else:
        low, high = SPLIT_YAW_RANGES[split]
        render = orbit_camera(low + (high - low) * torch.rand(count, generator=rng), 0.0, generator)
    condition = frontal_camera(generator, count) if split == "back" else render
    return condition, render


@torch.no_grad()
def generated_features(
    generator: PanoHeadGenerator,
    extractor: Extractor,
    condition: torch.Tensor,
    render: torch.Tensor,
    seed: int = 0,
    psi: float = 1.0,
    batch_size: int = 16,
    progress: bool = False,
    desc: str = "generated images",
) -> Features:
    """Features of heads with seeded latents, conditioned on ``condition`` and rendered at ``render`` (N, 25)."""
    z_all = seeded_latents(render.shape[0], generator.config.z_dim, seed, generator.device)
    parts = []
    for part in tqdm(list(batches(render.shape[0], batch_size)), desc=desc, unit="batch", disable=not progress):
        out = render_views(
            generator, z_all[part], condition[part], render[part, None], psi=psi, adapt_camera=True, superresolve=True
        )
        parts.append(extract(extractor, image_to_uint8(out["image"].float()), generator.device))
    return concatenate(parts)


def distribution_metrics(
    generator: PanoHeadGenerator,
    extractor: Extractor,
    dataset: Sequence[dict] | None = None,
    num_samples: int = 50000,
    seed: int = 0,
    psi: float = 1.0,
    batch_size: int = 16,
    workers: int = 0,
    max_real: int | None = None,
    kid_subsets: int = 100,
    is_splits: int = 10,
    progress: bool = False,
) -> tuple[dict[str, float], list[str]]:
    """FID, KID (need ``dataset``) and IS (needs extractor logits) for the all / front / back splits.

    Returns the numbers, keyed ``fid_all``, ``kid_back``, ``is_front``, ``is_front_std``, ... plus the
    real image counts ``real_<split>``, and notes on what could not be computed and why.
    """
    results: dict[str, float] = {}
    notes: list[str] = []
    reals = None  # the dataset's features, labels (N, 25) and yaws (N,) in degrees
    if dataset is not None:
        real, labels = real_features(
            dataset, extractor, generator.device, batch_size, workers, max_real, seed, progress
        )
        reals = real, labels, torch.rad2deg(label_to_orbit(labels).yaw).numpy()
    for split in SPLITS:
        pool, real_split = None, None
        if reals is not None:
            real, labels, real_yaw = reals
            keep = in_split(real_yaw, split)
            pool, real_split = labels[torch.from_numpy(keep)], real.subset(keep)
            results[f"real_{split}"] = int(keep.sum())
        condition, render = split_cameras(generator, split, num_samples, seed, pool)
        fake = generated_features(
            generator, extractor, condition, render, seed, psi, batch_size, progress, desc=f"generated ({split})"
        )
        if real_split is None:
            notes.append(f"fid/kid {split}: no dataset given (--data)")
        elif real_split.features.shape[0] < 2:
            notes.append(f"fid/kid {split}: the dataset has {real_split.features.shape[0]} {split} image(s); need 2")
        else:
            results[f"fid_{split}"] = frechet_distance(fit_gaussian(real_split.features), fit_gaussian(fake.features))
            results[f"kid_{split}"] = kernel_inception_distance(
                real_split.features, fake.features, kid_subsets, seed=seed
            )
        if fake.logits is None:
            notes.append(f"is {split}: the feature extractor has no classifier logits")
        else:
            results[f"is_{split}"], results[f"is_{split}_std"] = inception_score(
                fake.logits, min(is_splits, num_samples)
            )
    return results, notes
