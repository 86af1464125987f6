"""Training throughput (images/s) of one process: full training steps of a preset on a real dataset.

Runs ``--warmup`` steps (cuDNN autotuning, allocator warm-up), then times ``--steps`` steps, which
include the lazy R1 step every 16 and the EMA update, exactly as ``panohead train`` runs them
(bf16 autocast and channels-last D on CUDA unless ``--fp32``). Nothing is written to disk. Each
step's time goes to stderr as it finishes, so a slow configuration shows progress at once.

    panohead dataset synth --out /tmp/synth512 --count 256 --resolution 512 --device cuda
    python bench/bench_train.py --preset paper --data /tmp/synth512 --batch 32 --batch-gpu 8 --device cuda

``--profile`` adds a table of the costliest operators over 4 more steps (GPU time on CUDA).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name  # noqa: E402
from panohead.config import GeneratorConfig  # noqa: E402
from panohead.training.loop import RunSpec, Trainer  # noqa: E402
from panohead.training.options import TrainOptions, training_preset  # noqa: E402


@dataclass
class Throughput:
    device: torch.device
    images_per_second: float
    seconds_per_step: float
    batch: int
    batch_gpu: int
    parts: dict[str, float]  # seconds per step of each training phase
    peak_gib: float | None = None  # peak GPU memory
    profile: str = field(default="", repr=False)


def throughput(config: GeneratorConfig, options: TrainOptions, data: str, device: str = "auto", steps: int = 32,
               warmup: int = 4, profile: bool = False, progress: bool = True) -> Throughput:
    """Time ``steps`` training steps of a fresh run of ``config`` / ``options`` on ``data`` after ``warmup`` steps."""
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        trainer = Trainer(RunSpec(data=data, outdir=outdir, config=config, options=options, device=device))
        target = trainer.device
        if progress:
            print(f"  trainer built in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        if target.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        sync = (lambda: torch.cuda.synchronize(target)) if target.type == "cuda" else (lambda: None)
        batches = trainer.data_iterator()

        def run(count: int, phase: str) -> None:
            for index in range(count):
                started = time.perf_counter()
                trainer.step(next(batches))
                sync()
                if progress:
                    print(f"  {phase} step {index + 1}/{count}: {time.perf_counter() - started:.2f} s",
                          file=sys.stderr, flush=True)

        run(warmup, "warm-up")
        trainer.timer.read()
        if target.type == "cuda":
            torch.cuda.reset_peak_memory_stats(target)
        start = time.perf_counter()
        run(steps, "timed")
        seconds = time.perf_counter() - start
        parts = {name: value / steps for name, value in trainer.timer.read().items()}
        peak = torch.cuda.max_memory_allocated(target) / 2 ** 30 if target.type == "cuda" else None
        table = ""
        if profile:
            activities = [torch.profiler.ProfilerActivity.CPU] + (
                [torch.profiler.ProfilerActivity.CUDA] if target.type == "cuda" else [])
            with torch.profiler.profile(activities=activities) as profiler:
                run(4, "profiled")
            key = "self_device_time_total" if target.type == "cuda" else "self_cpu_time_total"
            table = profiler.key_averages().table(sort_by=key, row_limit=25)
        return Throughput(target, steps * options.batch / seconds, seconds / steps, options.batch, trainer.batch_gpu,
                          parts, peak, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=["tiny", "small", "medium", "paper"])
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
    result = throughput(config, options, args.data, args.device, args.steps, args.warmup, args.profile)
    device = result.device
    precision = "bf16 autocast" if device.type == "cuda" and options.mixed_precision else "fp32"
    print(f"device: {device_name(device)}  preset: {args.preset}  torch {torch.__version__}  {precision}")
    print(f"batch {result.batch} ({result.batch_gpu} per pass), D={config.grid_depth}, {args.steps} steps: "
          f"{result.images_per_second:.1f} images/s ({result.seconds_per_step * 1000:.0f} ms/step)")
    print("seconds per part: " + ", ".join(f"{k} {v * 1000:.0f} ms/step" for k, v in result.parts.items()))
    if result.peak_gib is not None:
        print(f"peak GPU memory: {result.peak_gib:.1f} GiB")
    if args.profile:
        print(result.profile)


if __name__ == "__main__":
    main()
