"""Fit the stage-2 head-yaw net (:mod:`panohead.data.head_yaw`) on synthetic renders with exact yaws.

    python -m panohead.data.fit_head_yaw --renders /tmp/yaw_renders.npz

Renders ``--count`` heads of dataset ``--seed`` (yaw uniform over the circle, pitch -20..20 degrees)
at ``--resolution`` px, or reads them back from ``--renders`` when that file exists (rendering is the
slow part: about 1.5 s per head at 96 px on one busy CPU core). Head boxes come from the exact masks,
jittered by up to 8% in size and 6% in position per epoch (the person mask of a photo is not exact);
patches are mirrored at random (yaw -> -yaw). Targets are a wrapped Gaussian of 10 degrees over the
bins. The last ``--holdout`` heads are kept out and their yaw error printed. Weights go to
``panohead/data/models/head_yaw.safetensors`` with the settings in the file's metadata.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from panohead.atomic import write_bytes_atomic
from panohead.data.estimators import Box, head_box_from_mask
from panohead.data.head_yaw import BINS, WEIGHTS, HeadYawNet, head_patch, read_yaw, resized_box, yaw_probabilities
from panohead.data.synth import SynthSettings, synthesize
from panohead.images import to_uint8

TARGET_SIGMA = 10.0  # degrees


def render(seed: int, count: int, resolution: int, path: Path | None) -> dict[str, np.ndarray]:
    """Images (N, R, R, 3) uint8, masks (N, R, R) uint8 and yaws (N,) degrees; cached in ``path``."""
    if path is not None and path.is_file():
        with np.load(path) as cached:
            return {name: cached[name][:count] for name in ("images", "masks", "yaws")}
    settings = SynthSettings(resolution=resolution, yaw_mode="uniform", pitch_range=(-20.0, 20.0))
    images, masks, yaws = [], [], []
    for start in range(0, count, 64):
        batch = synthesize(seed, range(start, min(count, start + 64)), settings)
        images += [to_uint8(image) for image in batch.images]
        masks += list((batch.masks[:, 0].numpy() * 255).astype(np.uint8))
        yaws += batch.yaws.tolist()
    renders = {"images": np.stack(images), "masks": np.stack(masks), "yaws": np.array(yaws)}
    if path is not None:
        np.savez(path, **renders)
    return renders


def soft_targets(yaws: np.ndarray) -> torch.Tensor:
    """(N, BINS) wrapped-Gaussian targets around each yaw (degrees)."""
    centres = np.arange(BINS) * 360.0 / BINS
    distance = (centres[None] - yaws[:, None] + 180.0) % 360.0 - 180.0
    weights = np.exp(-0.5 * (distance / TARGET_SIGMA) ** 2)
    return torch.from_numpy(weights / weights.sum(axis=1, keepdims=True)).float()


def jittered(box: Box, rng: np.random.Generator) -> Box:
    scale = rng.uniform(0.92, 1.08)
    dx, dy = rng.uniform(-0.06, 0.06, 2)
    return resized_box(box, scale, dx, dy)


def patches_of(images: np.ndarray, boxes: list[Box], rng: np.random.Generator | None) -> torch.Tensor:
    chosen = [jittered(box, rng) if rng is not None else box for box in boxes]
    return torch.from_numpy(np.stack([head_patch(image, box) for image, box in zip(images, chosen, strict=True)]))


def fit(renders: dict[str, np.ndarray], holdout: int, epochs: int, seed: int) -> tuple[HeadYawNet, dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    boxes = [head_box_from_mask(mask.astype(np.float32) / 255) for mask in renders["masks"]]
    keep = np.array([box is not None for box in boxes])
    images, yaws = renders["images"][keep], renders["yaws"][keep]
    boxes = [box for box in boxes if box is not None]
    train = slice(0, len(images) - holdout)
    test = slice(len(images) - holdout, len(images))
    net = HeadYawNet()
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs)
    train_images, train_yaws = images[train], yaws[train]
    for epoch in range(epochs):
        net.train()
        patches = patches_of(train_images, boxes[train], rng)
        flip = torch.from_numpy(rng.uniform(size=len(patches)) < 0.5)
        patches[flip] = patches[flip].flip(-1)
        targets = soft_targets(np.where(flip.numpy(), -train_yaws, train_yaws))
        order = torch.randperm(len(patches))
        total = 0.0
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            loss = -(targets[index] * torch.log_softmax(net(patches[index]), dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        schedule.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.3f}", flush=True)
    net.eval()
    probabilities = yaw_probabilities(net, patches_of(images[test], boxes[test], None)).numpy()
    readings = [read_yaw(row) for row in probabilities]
    errors = np.abs((np.array([r[0] for r in readings]) - yaws[test] + 180.0) % 360.0 - 180.0)
    summary = {
        "holdout": int(len(errors)),
        "median_error": float(np.median(errors)),
        "mean_error": float(errors.mean()),
    }
    return net, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--count", type=int, default=1600)
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--holdout", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--renders", type=Path, default=None, help="npz cache of the renders (read if present)")
    parser.add_argument("--out", type=Path, default=Path(WEIGHTS))
    args = parser.parse_args()
    renders = render(args.seed, args.count, args.resolution, args.renders)
    net, summary = fit(renders, args.holdout, args.epochs, args.seed)
    print(f"held-out synthetic heads: {json.dumps(summary)}")
    from safetensors.torch import save

    settings = {k: str(v) for k, v in vars(args).items() if k not in ("renders", "out")}
    metadata = {"settings": json.dumps(settings), "holdout": json.dumps(summary)}
    state = {name: tensor.contiguous() for name, tensor in net.state_dict().items()}
    write_bytes_atomic(args.out, save(state, metadata=metadata))
    print(f"wrote {args.out} ({math.ceil(args.out.stat().st_size / 1024)} KiB)")


if __name__ == "__main__":
    main()
