"""Training throughput (images/s) of one process: full training steps of a preset on a real dataset.

Runs ``--warmup`` steps (cuDNN autotuning, allocator warm-up), then times ``--steps`` steps, which
include the lazy R1 step every 16 and the EMA update, exactly as ``panohead train`` runs them
(bf16 autocast and channels-last D on CUDA unless ``--fp32``). Nothing is written to disk.

    panohead dataset synth --out /tmp/synth512 --count 512 --resolution 512 --device cuda
    python bench/bench_train.py --preset paper --data /tmp/synth512 --batch 32 --batch-gpu 8 --device cuda

``--profile`` adds a table of the costliest operators over 4 more steps (GPU time on CUDA).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name  # noqa: E402
from panohead.training.loop import RunSpec, Trainer  # noqa: E402
from panohead.training.options import training_preset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"])
    parser.add_argument("--data", required=True, help="dataset folder or zip at the preset's resolution")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--batch-gpu", type=int, default=None)
    parser.add_argument("--grid-depth", type=int, default=None)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fp32", action="store_true", help="disable bf16 autocast")
    parser.add_argument("--profile", action="store_true", help="then profile 4 more steps: the 25 costliest ops")
    args = parser.parse_args()

    overrides = {k: v for k, v in {"batch": args.batch, "batch_gpu": args.batch_gpu}.items() if v is not None}
    generator = {"grid_depth": args.grid_depth} if args.grid_depth else None
    config, options = training_preset(args.preset, generator, workers=min(8, os.cpu_count() or 1),
                                      mixed_precision=not args.fp32, **overrides)
    with tempfile.TemporaryDirectory() as outdir:
        trainer = Trainer(RunSpec(data=args.data, outdir=outdir, config=config, options=options, device=args.device))
        device = trainer.device
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        data = trainer.data_iterator()
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        for _ in range(args.warmup):
            trainer.step(next(data))
        trainer.timer.read()
        sync()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.step(next(data))
        sync()
        seconds = time.perf_counter() - start
        parts = trainer.timer.read()
        if args.profile:
            activities = [torch.profiler.ProfilerActivity.CPU] + (
                [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
            with torch.profiler.profile(activities=activities) as profiler:
                for _ in range(4):
                    trainer.step(next(data))
                sync()
            key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
            table = profiler.key_averages().table(sort_by=key, row_limit=25)
    images = args.steps * options.batch
    precision = "bf16 autocast" if device.type == "cuda" and options.mixed_precision else "fp32"
    print(f"device: {device_name(device)}  preset: {args.preset}  torch {torch.__version__}  {precision}")
    print(f"batch {options.batch} ({trainer.batch_gpu} per pass), D={config.grid_depth}, {args.steps} steps: "
          f"{images / seconds:.1f} images/s ({seconds / args.steps * 1000:.0f} ms/step)")
    print("seconds per part: " + ", ".join(f"{k} {v / args.steps * 1000:.0f} ms/step" for k, v in parts.items()))
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2 ** 30:.1f} GiB")
    if args.profile:
        print(table)


if __name__ == "__main__":
    main()
