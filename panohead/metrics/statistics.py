"""Distribution distances on feature vectors: FID, KID and the Inception Score (numpy, float64).

* FID (Heusel et al. 2017): ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2)) between Gaussians
  fitted to the two feature sets. tr (S_r S_g)^(1/2) is computed as the sum of square roots of the
  eigenvalues of S_r^(1/2) S_g S_r^(1/2), a symmetric PSD matrix, which avoids a non-symmetric sqrtm.
* KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over random subsets of equal size from both sets.
* IS (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) per split of the samples; mean and std over splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gaussian:
    """Mean (D,) and covariance (D, D) of a feature set, and how many samples made them."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int


def fit_gaussian(features: np.ndarray) -> Gaussian:
    """(N, D) features -> their mean and unbiased covariance in float64 (N >= 2)."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors to fit a Gaussian, got shape {features.shape}")
    data = features.astype(np.float64)
    return Gaussian(data.mean(axis=0), np.cov(data, rowvar=False), data.shape[0])


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix through its eigen-decomposition (tiny negative eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(real: Gaussian, fake: Gaussian) -> float:
    """FID between two fitted Gaussians (>= 0 up to rounding)."""
    root = symmetric_sqrt(real.covariance)
    product = root @ fake.covariance @ root
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    difference = real.mean - fake.mean
    value = difference @ difference + np.trace(real.covariance) + np.trace(fake.covariance) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> float:
    """KID: mean unbiased MMD^2 over ``subsets`` random subsets of min(subset_size, N_real, N_fake) samples."""
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 real and 2 generated samples")
    dims = real.shape[1]
    rng = np.random.default_rng(seed)
    kernel = lambda a, b: (a @ b.T / dims + 1.0) ** 3  # noqa: E731
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(real.shape[0], size, replace=False)].astype(np.float64)
        y = fake[rng.choice(fake.shape[0], size, replace=False)].astype(np.float64)
        kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        estimates.append(within - 2.0 * kxy.mean())
    return float(np.mean(estimates))


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS mean and std over ``splits`` equal parts of (N, K) classifier logits (N >= splits)."""
    if logits.shape[0] < splits:
        raise ValueError(
            f"the Inception Score with {splits} splits needs at least {splits} samples, got {logits.shape[0]}"
        )
    data = logits.astype(np.float64)
    log_p = data - data.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    scores = []
    for part in np.array_split(log_p, splits):
        log_marginal = np.log(np.exp(part).mean(axis=0, keepdims=True))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
