"""Principal directions of a model's w distribution (GANSpace, Harkonen et al. 2020), cached per model.

Many z are mapped under the frontal conditioning camera without truncation; the eigenvectors of the
covariance of those w, by decreasing eigenvalue, are the directions along which heads vary most.
The result depends only on the model's weights, so it is computed once and cached in the user cache
folder (``panohead.userdirs.cache_folder() / "directions"``) in a file named after the model's
fingerprint; never beside the checkpoint, which may sit in this source tree or a shared folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from panohead.checkpoint import CheckpointError, load_tensors, model_fingerprint
from panohead.editing.directions import KIND, Direction, save_directions
from panohead.editing.latents import conditioning_label
from panohead.generator import PanoHeadGenerator
from panohead.userdirs import cache_folder

SAMPLES = 10_000
SEED = 0
ALGORITHM = "pca-frontal-v1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrincipalDirections:
    """``components`` (w_dim, w_dim): row i is the i-th unit eigenvector of the w covariance;
    ``variances`` (w_dim,) its eigenvalues, decreasing; ``mean`` (w_dim,) the mean w. float64, CPU."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor

    @property
    def explained(self) -> torch.Tensor:
        """(w_dim,) share of the total w variance along each component, decreasing, summing to 1."""
        return self.variances / self.variances.sum()

    def covariance(self) -> torch.Tensor:
        """(w_dim, w_dim) covariance of w rebuilt from the eigen-decomposition."""
        return self.components.T @ torch.diag(self.variances) @ self.components

    def top(self, k: int) -> list[Direction]:
        """The first ``k`` components as directions named PC1, PC2, ..."""
        explained = self.explained
        return [
            Direction.of(
                f"PC{i + 1}", self.components[i], float(self.variances[i].clamp_min(0).sqrt()), float(explained[i])
            )
            for i in range(min(k, len(self.variances)))
        ]


@torch.no_grad()
def sample_w(
    generator: PanoHeadGenerator,
    samples: int = SAMPLES,
    seed: int = SEED,
    batch: int = 1000,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """(samples, w_dim) float64 CPU: w of seeded random z under the frontal camera, untruncated.
    ``progress(fraction)`` after each batch (the viewer's progress bar: seconds on a CPU)."""
    cfg = generator.config
    z = torch.randn(samples, cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    frontal = conditioning_label(generator)
    chunks = []
    for part in z.split(batch):
        chunks.append(
            generator.mapping(part.to(generator.device), frontal.expand(part.shape[0], -1))[:, 0].double().cpu()
        )
        if progress is not None:
            progress(sum(len(chunk) for chunk in chunks) / samples)
    return torch.cat(chunks)


def principal_directions(w: torch.Tensor) -> PrincipalDirections:
    """PCA of samples w (N, w_dim). Each component's sign is fixed (largest entry positive) so the
    same samples always give the same vectors."""
    w = w.double()
    mean = w.mean(dim=0)
    centred = w - mean
    covariance = centred.T @ centred / max(w.shape[0] - 1, 1)
    variances, vectors = torch.linalg.eigh(covariance)  # ascending, columns
    order = torch.argsort(variances, descending=True)
    variances, components = variances[order].clamp_min(0), vectors[:, order].T.contiguous()
    largest = components.gather(1, components.abs().argmax(dim=1, keepdim=True))
    components = components * torch.where(largest < 0, -1.0, 1.0).to(components.dtype)
    # Rounded to float32 as the cache stores them, so fresh and cached results are identical.
    return PrincipalDirections(*(t.float().double() for t in (mean, components, variances)))


def cache_key(generator: PanoHeadGenerator, samples: int = SAMPLES, seed: int = SEED) -> str:
    """Hex key naming a cache entry: the model's weights and config, the sample count and seed."""
    return hashlib.sha256(f"{ALGORITHM}|{model_fingerprint(generator)}|{samples}|{seed}".encode()).hexdigest()


def cache_path(key: str) -> Path:
    """The user-cache file of a cache entry."""
    return cache_folder() / "directions" / f"{key[:32]}.safetensors"


def cached_principal_directions(
    generator: PanoHeadGenerator,
    samples: int = SAMPLES,
    seed: int = SEED,
    progress: Callable[[float], None] | None = None,
) -> tuple[PrincipalDirections, Path | None]:
    """The model's principal directions, read from the cache or computed (reporting ``progress``, see
    :func:`sample_w`) and cached.

    Returns the directions and the cache file (None if it could not be written).
    """
    key = cache_key(generator, samples, seed)
    path = cache_path(key)
    found = _read_cache(path, key)
    if found is not None:
        return found, path
    pca = principal_directions(sample_w(generator, samples, seed, progress=progress))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_cache(path, pca, key, samples, seed)
    except OSError as error:
        log.warning("principal directions not cached at %s (%s)", path, error)
        return pca, None
    return pca, path


def _write_cache(path: Path, pca: PrincipalDirections, key: str, samples: int, seed: int) -> None:
    extra = {"mean": pca.mean.float(), "variances": pca.variances.float()}
    save_directions(
        path,
        pca.top(len(pca.variances)),
        {"source": "pca", "cache_key": key, "samples": str(samples), "seed": str(seed)},
        extra,
    )


def _read_cache(path: Path, key: str) -> PrincipalDirections | None:
    if not path.is_file():
        return None
    try:
        tensors, metadata = load_tensors(path, KIND)
        if metadata.get("cache_key") != key or not {"vectors", "variances", "mean"} <= set(tensors):
            return None
    except (CheckpointError, json.JSONDecodeError) as error:
        log.warning("ignoring unreadable direction cache %s (%s)", path, error)
        return None
    return PrincipalDirections(tensors["mean"].double(), tensors["vectors"].double(), tensors["variances"].double())
