"""Foreground-mask errors: generated opacity masks against ground-truth or segmentation masks.

PanoHead renders a foreground mask I_m alongside every image (Eq. 3) and the tri-discriminator
compares it with the dataset's masks, so a good model's masks look like the dataset's masks.

* :func:`mask_error` (no external weights): for dataset items with ground-truth masks (e.g. the
  synthetic 360-degree dataset), render a random head at the item's camera (conditioned on that
  camera, shifted by the self-adaptation offset as in training) and take the per-pixel MSE between
  its mask and the item's mask. The generated head is not the pictured one, so this is a
  distribution-level measure: it is zero only for identical silhouettes and mostly detects masks that
  leak into the background, heads of the wrong size or place, and holes. Compare models with it.
* :func:`segmentation_mse`: the paper-style check that needs a segmentation model: the MSE between
  the generated mask and the segmenter's mask of the *same* generated image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from panohead.generator import PanoHeadGenerator
from panohead.metrics.views import batches, render_views
from panohead.metrics.weights import load_program

# segmenter(images (B, 3, H, W) in [-1, 1]) -> foreground probability (B, 1, H, W) in [0, 1]
Segmenter = Callable[[torch.Tensor], torch.Tensor]


def load_segmenter(path: str, device: torch.device | str = "cpu") -> Segmenter:
    """A saved segmentation program (torch.export .pt2 or TorchScript): (B, 3, H, W) in [-1, 1] ->
    foreground probability (B, 1, H, W)."""
    return load_program(path, device, "segmentation model")


def generated_mask(out: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """The rendered mask I_m (B, 1, n, n) resized to ``size`` and clamped to [0, 1]."""
    mask = out["mask_raw"].float()
    if tuple(mask.shape[-2:]) != tuple(size):
        mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False, antialias=size[0] < mask.shape[-2])
    return mask.clamp(0.0, 1.0)


def sample_indices(length: int, num_samples: int | None, seed: int) -> list[int]:
    """``num_samples`` dataset indices drawn without replacement (all of them, shuffled, by default)."""
    if length == 0:
        raise ValueError("the dataset is empty")
    order = torch.randperm(length, generator=torch.Generator().manual_seed(seed)).tolist()
    count = length if num_samples is None else min(num_samples, length)
    return order[:count]


def seeded_latents(count: int, z_dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """(count, z_dim) standard-normal latents fixed by ``seed`` (independent of batch size and device)."""
    return torch.randn(count, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)


@torch.no_grad()
def mask_error(
    generator: PanoHeadGenerator,
    dataset: Sequence[dict],
    num_samples: int | None = None,
    seed: int = 0,
    psi: float = 1.0,
    batch_size: int = 8,
    progress: bool = False,
) -> float:
    """Mean per-pixel MSE between generated masks and ``dataset`` masks at the same cameras.

    ``dataset`` is any sequence of items {"mask" (1, H, W) in [0, 1], "label" (25,), ...} such as
    ``panohead.data.dataset.HeadDataset(images, masks)``. ``num_samples`` items (default: all) are
    drawn with ``seed``, which also fixes the latents. Stable entry point for ablations.
    """
    device = generator.device
    indices = sample_indices(len(dataset), num_samples, seed)
    z_all = seeded_latents(len(indices), generator.config.z_dim, seed, device)
    total, count = 0.0, 0
    for part in tqdm(list(batches(len(indices), batch_size)), desc="mask error", unit="batch", disable=not progress):
        items = [dataset[i] for i in indices[part]]
        if any(item.get("mask") is None for item in items):
            raise ValueError(
                f"dataset item {items[0].get('name', indices[part.start])!r} has no mask; "
                "mask_error needs a dataset with foreground masks"
            )
        labels = torch.stack([torch.as_tensor(item["label"], dtype=torch.float32) for item in items]).to(device)
        truth = torch.stack([torch.as_tensor(item["mask"], dtype=torch.float32) for item in items]).to(device)
        out = render_views(generator, z_all[part], labels, labels[:, None], psi=psi, adapt_camera=True)
        fake = generated_mask(out, tuple(truth.shape[-2:]))
        total += float(((fake - truth) ** 2).mean(dim=(1, 2, 3)).sum())
        count += len(items)
    return total / count


@torch.no_grad()
def segmentation_mse(
    generator: PanoHeadGenerator,
    segmenter: Segmenter,
    cameras: torch.Tensor,
    seed: int = 0,
    psi: float = 1.0,
    batch_size: int = 8,
    progress: bool = False,
) -> float:
    """Mean per-pixel MSE between each generated mask and ``segmenter``'s mask of the same image.

    ``cameras`` (N, 25) are both conditioning and rendering cameras (self-adaptation applied); the
    final super-resolved image is segmented and compared with the mask at the image's resolution.
    """
    device = generator.device
    z_all = seeded_latents(cameras.shape[0], generator.config.z_dim, seed, device)
    total = 0.0
    for part in tqdm(
        list(batches(cameras.shape[0], batch_size)), desc="segmentation MSE", unit="batch", disable=not progress
    ):
        labels = cameras[part].to(device)
        out = render_views(
            generator, z_all[part], labels, labels[:, None], psi=psi, adapt_camera=True, superresolve=True
        )
        image = out["image"].float().clamp(-1, 1)
        predicted = segmenter(image).float()
        if predicted.ndim == 3:
            predicted = predicted[:, None]
        if predicted.shape[0] != image.shape[0] or predicted.shape[1] != 1:
            raise ValueError(
                f"the segmentation model returned shape {tuple(predicted.shape)}; "
                "expected (B, 1, H, W) foreground probabilities"
            )
        if predicted.min() < -1e-3 or predicted.max() > 1 + 1e-3:
            raise ValueError(
                "the segmentation model returned values outside [0, 1]; "
                "it must output foreground probabilities (apply a sigmoid/softmax in the model)"
            )
        fake = generated_mask(out, tuple(predicted.shape[-2:]))
        total += float(((fake - predicted.clamp(0, 1)) ** 2).mean(dim=(1, 2, 3)).sum())
    return total / cameras.shape[0]
