"""The ablation table (the paper's Table 2 in miniature): measure finished training runs, write docs/ablation.md.

Each run folder is a ``panohead train`` output; its variant (tri-grid depth D, mask channel of the
discriminator, camera self-adaptation) is read from its ``options.json``, its model from its newest
snapshot. Per run:

* mirrored-face score (``panohead.metrics.mirrored_face_score``, seeds 0..N-1): how much the back view
  resembles the mirrored front view; lower is better;
* mask error (``panohead.metrics.mask_error``): per-pixel MSE of generated foreground masks against
  the dataset's ground-truth masks at the same cameras; lower is better;
* training time per image, measured alone: ``--timing-steps`` training steps of a fresh model with
  the run's own options on the GPU with nothing else running (``bench.bench_train.throughput``), so
  runs that trained side by side on one GPU are still compared fairly; plus the run's own training
  seconds per image from ``log.jsonl`` (inflated when runs shared the GPU).

    python bench/ablation.py --data runs/ablation-data --runs runs/abl-* --out docs/ablation.md --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.bench_train import throughput
from bench.common import device_name
from panohead.atomic import write_bytes_atomic
from panohead.checkpoint import load_generator
from panohead.config import GeneratorConfig
from panohead.data.dataset import HeadDataset
from panohead.devices import pick_device
from panohead.metrics import mask_error, mirrored_face_score
from panohead.training.options import TrainOptions
from panohead.training.snapshot import latest_snapshot


def variant(options: dict) -> str:
    generator, train = options["generator"], options["train_options"]
    parts = [
        f"tri-grid D={generator['grid_depth']}" if generator["grid_depth"] > 1 else "tri-plane D=1",
        "mask channel" if train["discriminator"]["mask_channel"] else "no mask channel",
        "self-adaptation" if generator["camera_adapter"] else "no self-adaptation",
    ]
    return ", ".join(parts)


def alone_ms_per_image(options: dict, data: str, steps: int, device: torch.device) -> float:
    """Training milliseconds per real image of the run's configuration with the device to itself."""
    config = GeneratorConfig.from_dict(options["generator"])
    train = TrainOptions.from_dict(options["train_options"])
    result = throughput(config, train, data, str(device), steps=steps, warmup=min(4, steps), progress=False)
    return 1000.0 / result.images_per_second


def measure(
    run: Path, dataset: HeadDataset, data: str, seeds: int, mask_samples: int, timing_steps: int, device: torch.device
) -> dict:
    options = json.loads((run / "options.json").read_text())
    snapshot = latest_snapshot(run)
    if snapshot is None:
        raise SystemExit(f"{run}: no snapshot (is the run finished?)")
    ticks = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["event"] == "tick"]
    generator = load_generator(snapshot, device)
    return {
        "run": run.name,
        "variant": variant(options),
        "kimg": ticks[-1]["nimg"] / 1000,
        "mirror": mirrored_face_score(generator, range(seeds)),
        "mask": mask_error(generator, dataset, num_samples=mask_samples),
        "ms_per_image": 1000 * ticks[-1]["train_seconds"] / ticks[-1]["nimg"],
        "alone_ms_per_image": alone_ms_per_image(options, data, timing_steps, device),
        "command": options["command"],
    }


def markdown(rows: list[dict], args, device: torch.device) -> str:
    lines = [
        "# Ablation on synthetic 360-degree heads",
        "",
        "The paper's Table 2 in miniature, on data whose ground truth we know: tri-plane (D = 1) vs tri-grid",
        "(D = 3), with and without the discriminator's mask channel, with and without camera self-adaptation,",
        "all trained on synthetic heads whose large-yaw crops are jittered (the alignment drift that",
        "self-adaptation corrects).",
        "",
        f"Dataset: `{args.data}`" + (f", written by `{args.data_command}`." if args.data_command else "."),
        f"Measured {time.strftime('%Y-%m-%d')} on {device_name(device)} with",
        f"`python bench/ablation.py --data {args.data} --runs {' '.join(str(r) for r in args.runs)} "
        f"--seeds {args.seeds} --mask-samples {args.mask_samples} --timing-steps {args.timing_steps}`.",
        "",
        "* mirrored-face score: correlation of the back view with the mirrored front view, mean over "
        f"seeds 0-{args.seeds - 1} (1 = the back is a mirrored face; lower is better);",
        f"* mask error: per-pixel MSE of generated masks against ground-truth masks at {args.mask_samples} dataset "
        "cameras (lower is better);",
        f"* time per image (alone): {args.timing_steps} training steps of the run's configuration with the GPU to "
        "itself, after a warm-up (lower is faster);",
        "* time per image (in run): the run's training seconds / real images seen, from its log; runs that "
        "trained side by side on one GPU share it, so compare this column only between such runs.",
        "",
        "| run | variant | kimg | mirrored-face score | mask error | time per image (alone) "
        "| time per image (in run) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['variant']} | {row['kimg']:g} | {row['mirror']:.3f} | "
            f"{row['mask']:.4f} | {row['alone_ms_per_image']:.2f} ms | {row['ms_per_image']:.2f} ms |"
        )
    lines += ["", "Training commands:", "", "```bash"] + [row["command"] for row in rows] + ["```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the (jittered) synthetic dataset the runs trained on")
    parser.add_argument("--data-command", default="", help="the command that wrote --data, quoted in the report")
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/ablation.md"))
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--mask-samples", type=int, default=512)
    parser.add_argument("--timing-steps", type=int, default=20, help="training steps timed per variant, alone")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    dataset = HeadDataset(args.data)
    rows = []
    for run in args.runs:
        rows.append(measure(run, dataset, args.data, args.seeds, args.mask_samples, args.timing_steps, device))
        row = rows[-1]
        print(
            f"{row['run']}: {row['variant']}: mirror {row['mirror']:.3f}, mask {row['mask']:.4f}, "
            f"{row['alone_ms_per_image']:.2f} ms/image alone, {row['ms_per_image']:.2f} in run",
            flush=True,
        )
    write_bytes_atomic(args.out, markdown(rows, args, device).encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
