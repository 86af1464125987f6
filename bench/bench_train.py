"""Training cost of one process: forward + backward passes of G, D and R1, and full training steps.

Passes (``--passes``, on by default on CUDA): at ``--pass-batch`` (8) on the chosen preset, the
generator's forward + backward of ``image.square().mean()`` with random noise (the measure the
official code was timed with, ``bench.common.OFFICIAL_H200``), the discriminator's forward +
backward of its logits, and the R1 step (double backward). Each fast-path row is timed in the same
run as the plain fp32 reference (TF32 on, as training runs) and prints the ratio, the peak GPU
memory and the max abs difference of G's image (range [-1, 1]) from the reference image.

Training steps (when ``--data`` is given):

Runs ``--warmup`` steps (cuDNN autotuning, allocator warm-up), then times ``--steps`` steps, which
include the lazy R1 step every 16 and the EMA update, exactly as ``panohead train`` runs them
(bf16 autocast and channels-last D on CUDA unless ``--fp32``). Nothing is written to disk. Each
step's time goes to stderr as it finishes, so a slow configuration shows progress at once.

    panohead dataset synth --out /tmp/synth512 --count 256 --resolution 512 --device cuda
    python bench/bench_train.py --preset paper --data /tmp/synth512 --batch 32 --batch-gpu 8 --device cuda
    python bench/bench_train.py --preset paper --device cuda --no-steps   # passes alone

After the timed steps one more step runs under :class:`panohead.op_count.OpCount`: the ATen operations it
dispatched (each costs the host microseconds, whatever the size of its kernel) and the device syncs among
them (``.item()``, data-dependent shapes, copies to or from host memory), printed beside the rate.

``--profile`` adds a table of the costliest operators over 2 more steps (GPU time on CUDA), after a line
that compares the kernel time per step with the step's (unprofiled) wall time: how far the host, not the
GPU, bounds the step.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name, print_official, time_call
from panohead.config import GeneratorConfig
from panohead.devices import cudnn_benchmark, pick_device
from panohead.generator import PanoHeadGenerator
from panohead.nn.fused import fused_layers
from panohead.op_count import OpCount
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loop import RunSpec, Trainer
from panohead.training.options import TrainOptions, training_preset
from panohead.views.camera import orbit_camera


@dataclass(frozen=True)
class Variant:
    """One way of running a pass: precision and the optional fast paths."""

    name: str
    precision: str = "fp32"  # 'fp32' or 'bf16' (autocast)
    fused: bool = False  # panohead.nn.fused layers
    channels_last: bool = False  # D only (a channels-last G measured slower, see docs/performance.md)
    compiled: bool = False  # torch.compile of G's three conv networks, or of D (not for R1: no double backward)
    autotune: bool = True  # cuDNN benchmark (autotuning) on; off: cuDNN's heuristics pick each kernel at once


G_VARIANTS = (
    Variant("fp32 (reference)"),
    Variant("bf16 autocast (training before)", "bf16"),
    Variant("bf16 + fused", "bf16", fused=True),
    Variant("bf16 + torch.compile", "bf16", compiled=True),
)
D_VARIANTS = (
    Variant("fp32 (reference)"),
    Variant("bf16 + CL (training before)", "bf16", channels_last=True),
    Variant("bf16 + CL + fused", "bf16", True, True),
    Variant("bf16 + CL + torch.compile", "bf16", channels_last=True, compiled=True),
)
R1_VARIANTS = (  # training runs R1 without autocast, on the channels-last D
    Variant("fp32 + CL (reference: training before)", channels_last=True),
    Variant("fp32 + CL + fused", fused=True, channels_last=True),
    Variant("fp32 + CL + fused, no autotune", fused=True, channels_last=True, autotune=False),
    Variant("bf16 + CL + fused", "bf16", True, True),
    Variant("bf16 + CL + fused, no autotune", "bf16", True, True, autotune=False),
)


def measure(step: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> tuple[float, float | None]:
    """Median seconds per ``step()`` and the peak GPU memory (GiB) of the timed calls (after warm-up,
    so cuDNN's autotuning workspaces are not counted)."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    seconds = time_call(step, device, warmup=0, repeats=repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def _autocast(variant: Variant, device: torch.device):
    if variant.precision == "fp32" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _generator(config: GeneratorConfig, variant: Variant, device: torch.device) -> PanoHeadGenerator:
    torch.manual_seed(0)
    G = PanoHeadGenerator(config).train().requires_grad_(True).to(device)
    if variant.compiled:
        for network in (G.synthesis, G.background, G.superres):
            if network is not None:
                network.compile()
    return G


def _discriminator(options: TrainOptions, variant: Variant, device: torch.device) -> TriDiscriminator:
    torch.manual_seed(0)
    D = TriDiscriminator(options.discriminator).train().requires_grad_(True).to(device)
    if variant.channels_last:
        D.use_channels_last()
    if variant.compiled:
        D.compile()
    return D


def pass_table(
    config: GeneratorConfig,
    options: TrainOptions,
    device: torch.device,
    batch: int = 8,
    warmup: int = 3,
    repeats: int = 10,
    skip_compile: bool = False,
    only: list[str] | None = None,
) -> None:
    """Print G forward+backward, D forward+backward and R1 rows (ms, img/s, ratio, peak, max|diff|).

    ``only`` keeps the rows whose "section: variant" name (e.g. "R1 (double backward): fp32 + CL + fused")
    contains one of its strings; ratios are against each section's first row printed (the reference unless
    filtered out).
    """
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(batch, config.z_dim, generator=generator).to(device)
    c = orbit_camera(torch.rand(batch, generator=generator) * 360.0, device=device)
    size, raw_size = config.image_resolution, config.neural_resolution
    real = [
        (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device),
        (torch.rand(batch, 3, raw_size, raw_size, generator=generator) * 2 - 1).to(device),
        torch.rand(batch, 1, raw_size, raw_size, generator=generator).to(device),
    ]

    def g_step(G: PanoHeadGenerator, variant: Variant):
        def step():
            G.zero_grad(set_to_none=True)
            with _autocast(variant, device), fused_layers(variant.fused):
                image = G(z, c, noise_mode="random")["image"]
            image.float().square().mean().backward()
            return image.detach().float()

        return step

    def d_step(D: TriDiscriminator, variant: Variant):
        def step():
            D.zero_grad(set_to_none=True)
            with _autocast(variant, device), fused_layers(variant.fused):
                logits = D(*real, c)
            F.softplus(logits).mean().backward()

        return step

    def r1_step(D: TriDiscriminator, variant: Variant):
        def step():
            D.zero_grad(set_to_none=True)
            inputs = [t.detach().requires_grad_(True) for t in real]
            with _autocast(variant, device), fused_layers(variant.fused), cudnn_benchmark(variant.autotune):
                logits = D(*inputs, c)
                grads = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
                penalty = sum(g.float().square().sum(dim=(1, 2, 3)) for g in grads).mean()
            penalty.backward()

        return step

    if device.type == "cuda" and not skip_compile:
        # compiled noise draws the same numbers as eager, so images can be compared
        importlib.import_module("torch._inductor.config").fallback_random = True
    sections = (
        ("G forward+backward", G_VARIANTS, lambda v: g_step(_generator(config, v, device), v)),
        ("D forward+backward", D_VARIANTS, lambda v: d_step(_discriminator(options, v, device), v)),
        ("R1 (double backward)", R1_VARIANTS, lambda v: r1_step(_discriminator(options, v, device), v)),
    )
    settings = ", TF32 on, cuDNN benchmark on" if device.type == "cuda" else ""
    print(f"passes at batch {batch}, {size}x{size} ({raw_size}^2 neural){settings}", flush=True)
    for title, variants, build in sections:
        reference_time = reference_image = None
        for variant in variants:
            if variant.compiled and (skip_compile or device.type != "cuda"):
                continue
            if only and not any(text in f"{title}: {variant.name}" for text in only):
                continue
            step = None
            try:
                started = time.perf_counter()
                step = build(variant)
                torch.manual_seed(123)
                image = step()
                first = time.perf_counter() - started
                seconds, peak = measure(step, device, warmup, repeats)
                diff = ""
                if isinstance(image, torch.Tensor):
                    if reference_image is None:
                        reference_image = image
                    diff = f"  max|diff| {float((image - reference_image).abs().max()):.1e}"
                reference_time = reference_time or seconds
                memory = f"  peak {peak:5.1f} GiB" if peak is not None else ""
                print(
                    f"  {title:22s} {variant.name:36s} {seconds * 1e3:8.1f} ms {batch / seconds:7.1f} img/s "
                    f"{reference_time / seconds:5.2f}x{memory}{diff}  (first call {first:.1f} s)",
                    flush=True,
                )
            except Exception as error:  # one failing row must not hide the others
                print(
                    f"  {title:22s} {variant.name:36s} FAILED: {type(error).__name__}: "
                    f"{str(error).strip().splitlines()[:1]}",
                    flush=True,
                )
            finally:
                del step
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()


PROFILED_STEPS = 2


def launch_summary(profiler: torch.profiler.profile, wall: float) -> str:
    """Kernels launched and kernel time per profiled step against ``wall``, the unprofiled seconds per step:
    a GPU busy far less than the wall time means the host (Python, launches, waits) bounds the step."""
    kernels = [e for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if not kernels:
        return ""
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6 / PROFILED_STEPS
    return (
        f"per step: {len(kernels) / PROFILED_STEPS:.0f} kernels, {busy * 1000:.1f} ms of kernel time "
        f"in {wall * 1000:.1f} ms of wall time (GPU busy at most {busy / wall:.0%})\n"
    )


@dataclass
class Throughput:
    device: torch.device
    images_per_second: float
    seconds_per_step: float
    batch: int
    batch_gpu: int
    parts: dict[str, float]  # seconds per step of each training phase
    peak_gib: float | None = None  # peak GPU memory
    host: str = ""  # OpCount's summary of one more step (operations and syncs per step)
    profile: str = field(default="", repr=False)


def throughput(
    config: GeneratorConfig,
    options: TrainOptions,
    data: str,
    device: str = "auto",
    steps: int = 32,
    warmup: int = 4,
    profile: bool = False,
    progress: bool = True,
    trace: str | None = None,
    autotune: bool = True,
) -> Throughput:
    """Time ``steps`` training steps of a fresh run of ``config`` / ``options`` on ``data`` after ``warmup`` steps
    (``autotune``: cuDNN benchmark mode on CUDA), then count one more step's operations and syncs."""
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        trainer = Trainer(RunSpec(data=data, outdir=outdir, config=config, options=options, device=device))
        target = trainer.device
        if progress:
            print(f"  trainer built in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        if target.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        sync = (lambda: torch.cuda.synchronize(target)) if target.type == "cuda" else (lambda: None)
        batches = trainer.data_iterator()

        def run(count: int, phase: str) -> None:
            with cudnn_benchmark(autotune and target.type == "cuda"):  # as asked, for these steps only
                for index in range(count):
                    started = time.perf_counter()
                    trainer.step(next(batches))
                    sync()
                    if progress:
                        print(
                            f"  {phase} step {index + 1}/{count}: {time.perf_counter() - started:.2f} s",
                            file=sys.stderr,
                            flush=True,
                        )

        run(warmup, "warm-up")
        trainer.timer.read()
        if target.type == "cuda":
            torch.cuda.reset_peak_memory_stats(target)
        start = time.perf_counter()
        run(steps, "timed")
        seconds = time.perf_counter() - start
        parts = {name: value / steps for name, value in trainer.timer.read().items()}
        peak = torch.cuda.max_memory_allocated(target) / 2**30 if target.type == "cuda" else None
        batch = next(batches)  # outside the count: the data loader's tensors come from host memory by design
        with OpCount() as count:
            trainer.step(batch)
        sync()
        table = ""
        if profile:
            if progress:  # the rate first: a profile cut short by a time limit must not hide it
                print(f"  {steps * options.batch / seconds:.1f} images/s before profiling", file=sys.stderr, flush=True)
            activities = [torch.profiler.ProfilerActivity.CPU] + (
                [torch.profiler.ProfilerActivity.CUDA] if target.type == "cuda" else []
            )
            with torch.profiler.profile(activities=activities) as profiler:
                run(PROFILED_STEPS, "profiled")
            key = "self_device_time_total" if target.type == "cuda" else "self_cpu_time_total"
            table = launch_summary(profiler, seconds / steps) + profiler.key_averages().table(sort_by=key, row_limit=30)
            if trace:
                profiler.export_chrome_trace(trace)
        return Throughput(
            target,
            steps * options.batch / seconds,
            seconds / steps,
            options.batch,
            trainer.batch_gpu,
            parts,
            peak,
            count.summary(),
            table,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=["tiny", "small", "medium", "paper"])
    parser.add_argument(
        "--data", default=None, help="dataset folder or zip at the preset's resolution (training steps)"
    )
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--batch-gpu", type=int, default=None)
    parser.add_argument("--grid-depth", type=int, default=None)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fp32", action="store_true", help="disable bf16 autocast")
    parser.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="training steps without cuDNN autotuning (its 20-40 s first step dominates a short run)",
    )
    parser.add_argument("--plain", action="store_true", help="training steps without the fast paths (reference)")
    parser.add_argument("--compare", action="store_true", help="training steps with and without the fast paths")
    parser.add_argument("--profile", action="store_true", help="then profile 2 more steps: the 30 costliest ops")
    parser.add_argument("--trace", default=None, help="with --profile: write the profiled steps' Chrome trace here")
    parser.add_argument("--no-passes", action="store_true", help="skip the G / D / R1 pass table")
    parser.add_argument("--pass-batch", type=int, default=8)
    parser.add_argument("--pass-repeats", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument(
        "--variants", nargs="+", default=None, help='only pass rows whose "section: variant" name contains one of these'
    )
    parser.add_argument(
        "--compile-cache",
        default=None,
        help="file of torch.compile cache artifacts: loaded when present, written at the end",
    )
    args = parser.parse_args()

    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    print(f"device: {device_name(device)}  preset: {args.preset}  torch {torch.__version__}", flush=True)
    if args.compile_cache and os.path.isfile(args.compile_cache):
        with open(args.compile_cache, "rb") as handle:
            torch.compiler.load_cache_artifacts(handle.read())
        print(f"loaded compile cache {args.compile_cache}", flush=True)
    overrides = {k: v for k, v in {"batch": args.batch, "batch_gpu": args.batch_gpu}.items() if v is not None}
    generator = {"grid_depth": args.grid_depth} if args.grid_depth else None
    config, options = training_preset(
        args.preset, generator, workers=min(8, os.cpu_count() or 1), mixed_precision=not args.fp32, **overrides
    )
    if not args.no_passes:
        print_official("G fwd+bwd batch 8")
        pass_table(
            config,
            options,
            device,
            args.pass_batch,
            repeats=args.pass_repeats,
            skip_compile=args.no_compile,
            only=args.variants,
        )
    if args.compile_cache and not args.no_compile and device.type == "cuda":
        artifacts = torch.compiler.save_cache_artifacts()
        if artifacts is not None:
            with open(args.compile_cache, "wb") as handle:
                handle.write(artifacts[0])
            print(f"wrote compile cache {args.compile_cache} ({len(artifacts[0]) / 2**20:.1f} MiB)", flush=True)
    if args.data is None:
        return
    print_official("training step")
    plain = options.replace(fused_layers=False)
    runs = (
        [("plain", plain), ("fast", options)]
        if args.compare
        else [("plain" if args.plain else "fast", plain if args.plain else options)]
    )
    for name, run_options in runs:
        result = throughput(
            config,
            run_options,
            args.data,
            device.type,
            args.steps,
            args.warmup,
            args.profile,
            trace=args.trace,
            autotune=not args.no_cudnn_benchmark,
        )
        precision = "bf16 autocast" if device.type == "cuda" and run_options.mixed_precision else "fp32"
        print(
            f"training steps, {name} ({precision}, fused layers {run_options.fused_layers}, channels-last D "
            f"{run_options.channels_last}):"
        )
        print(
            f"  batch {result.batch} ({result.batch_gpu} per pass), D={config.grid_depth}, {args.steps} steps: "
            f"{result.images_per_second:.1f} images/s ({result.seconds_per_step * 1000:.0f} ms/step)"
        )
        print("  seconds per part: " + ", ".join(f"{k} {v * 1000:.0f} ms/step" for k, v in result.parts.items()))
        print(f"  host: {result.host}")
        if result.peak_gib is not None:
            print(f"  peak GPU memory: {result.peak_gib:.1f} GiB", flush=True)
        if args.profile:
            print(result.profile)


if __name__ == "__main__":
    with cudnn_benchmark(True):  # fixed shapes every step (a variant may turn it off inside)
        main()
