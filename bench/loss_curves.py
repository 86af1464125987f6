"""Training losses with and without the fast paths, from the same seed: do they train alike?

Trains a fresh run of ``--preset`` for ``--steps`` steps twice on the same data and seed, once with
the plain layers and once with the fused layers (``TrainOptions.fused_layers``), and prints the mean
of each loss over windows of ``--window`` steps side by side with its standard error (the step-to-step
noise of one run). The two runs see the same images, latents and cameras; their curves differ only by
the rounding of the fast paths, which GAN training amplifies over time, so "alike" means within a few
standard errors, not equal.

    panohead dataset synth --out /tmp/synth32 --count 64 --resolution 32 --device cuda
    python bench/loss_curves.py --preset tiny --data /tmp/synth32 --steps 200 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name
from panohead.training.loop import RunSpec, Trainer
from panohead.training.options import TrainOptions, training_preset

KEYS = ("loss_G", "loss_D", "scores_fake", "scores_real", "r1_image", "r1_mask")


def per_step_losses(config, options: TrainOptions, data: str, device: str, steps: int) -> dict[str, list[float]]:
    """Each step's mean of every statistic in KEYS (R1 statistics only on the steps that run R1)."""
    curves: dict[str, list[float]] = {key: [] for key in KEYS}
    with tempfile.TemporaryDirectory() as outdir:
        trainer = Trainer(RunSpec(data=data, outdir=outdir, config=config, options=options, device=device))
        batches = trainer.data_iterator()
        for _ in range(steps):
            trainer.step(next(batches))
            for key in KEYS:
                values = trainer.stats.pop(key, None)
                if values:
                    curves[key].append(float(torch.stack(values).float().mean()))
            trainer.stats = {}
    return curves


def window_stats(values: list[float], start: int, size: int) -> tuple[float, float]:
    """Mean and standard error of values[start:start + size]."""
    chunk = values[start : start + size]
    mean = sum(chunk) / len(chunk)
    spread = math.sqrt(sum((v - mean) ** 2 for v in chunk) / max(len(chunk) - 1, 1))
    return mean, spread / math.sqrt(len(chunk))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "small", "paper"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="write both runs' per-step losses to this JSON file")
    args = parser.parse_args()

    overrides = {"batch": args.batch} if args.batch else {}
    config, options = training_preset(args.preset, workers=2, **overrides)
    plain = options.replace(fused_layers=False)
    runs = {
        "plain": per_step_losses(config, plain, args.data, args.device, args.steps),
        "fast": per_step_losses(config, options, args.data, args.device, args.steps),
    }
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    print(
        f"device: {device_name(device)}  preset {args.preset}, batch {options.batch}, {args.steps} steps, "
        f"same seed; plain vs fused layers"
    )
    for key in ("loss_G", "loss_D"):
        print(f"{key}: steps | plain mean +- s.e. | fast mean +- s.e. | difference in s.e.")
        for start in range(0, args.steps, args.window):
            (a, ea), (b, eb) = (window_stats(runs[name][key], start, args.window) for name in ("plain", "fast"))
            print(
                f"  {start:4d}-{start + args.window - 1:4d} | {a:7.4f} +- {ea:.4f} | {b:7.4f} +- {eb:.4f} | "
                f"{(b - a) / max(math.hypot(ea, eb), 1e-12):+5.1f}"
            )
    for key in ("r1_image", "r1_mask"):
        if runs["plain"][key]:
            print(
                f"{key} per R1 step: plain {[round(v, 4) for v in runs['plain'][key]]}, "
                f"fast {[round(v, 4) for v in runs['fast'][key]]}"
            )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(runs, handle)


if __name__ == "__main__":
    main()
