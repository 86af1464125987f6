"""The training loop behind ``panohead train``: one process per GPU, torch.distributed between them.

Run folder (``--outdir``); the app's training panel reads these files:

``options.json``
    {"generator": config, "train_options": options, "data", "masks", "world_size", "command"}, rewritten
    at every (re)start.
``log.jsonl``
    one JSON object per line; ``event`` says which kind, ``time`` is the Unix time:

    * ``start``: nimg, kimg_total, batch, batch_gpu, world_size, device, resumed_from, finetune_from
    * ``startup`` (once every phase has run, at most ``max(reg intervals)`` steps in): seconds spent on
      each part of getting ready {process_group, dataset, networks, resume, broadcast, run_files},
      first_steps (wall seconds of each of those first steps, the device synchronised after each, the
      data wait included), cudnn_benchmark. One-off costs (cuDNN autotuning of every new convolution
      shape, CUDA kernel loading, NCCL set-up) show as first steps far slower than a tick's mean.
    * ``tick`` (every ``tick_kimg``): nimg, kimg, step, train_seconds, images_per_s, eta_s, loss_G,
      loss_D, r1_image, r1_mask, camera_offset (mean |Delta c|), camera_offset_penalty, density_reg,
      scores_real, scores_fake, blur_sigma, pose_swap_prob, density_noise, neural_resolution,
      seconds {data, G, D, ema} spent in each part since the last tick, gpu_mem_gb (peak)
      (a loss is null when NaN/inf; keys of phases that did not run since the last tick are absent)
    * ``snapshot``: nimg, path, grid, mask_grid (file names inside the run folder)
    * ``stop``: nimg, reason ("done", "SIGINT", "SIGTERM", "time limit")
    * ``error``: message (the run died; the traceback is on stderr)
``reals.png``
    real training images (top rows) and their masks (bottom rows).
``snapshot-NNNNNNNNN.safetensors``
    N = real images seen (zero-padded to 9 digits); G, G_ema, D, optimiser state and counters
    (:mod:`panohead.training.snapshot`); ``load_generator`` opens it as the G_ema generator. The newest
    ``keep_snapshots`` are kept.
``grid-NNNNNNNNN.png`` and ``grid-NNNNNNNNN-mask.png``
    G_ema for seeds 0.. (rows) at yaw 0, 90, 180, 270 degrees (columns: front, side, back, other side),
    conditioned on the frontal camera, truncation 0.7; written with every snapshot.

Randomness: every draw of step ``s`` comes from generators seeded by (seed, s, phase, chunk): the real
images of the step, each chunk's z, rendering cameras and noise. Together with the deterministic data
order this makes resuming from a snapshot exact, and makes N processes with batch B/N each compute the
same gradients as one process accumulating N chunks of B/N.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from panohead.atomic import write_bytes_atomic
from panohead.checkpoint import CheckpointError, load_generator, load_tensors
from panohead.config import GeneratorConfig
from panohead.data.dataset import HeadDataset, yaw_balanced_sampler
from panohead.devices import cudnn_benchmark, pick_device
from panohead.errors import one_line
from panohead.generator import PanoHeadGenerator
from panohead.nn.fused import fused_layers
from panohead.official import load_official_snapshot
from panohead.precision import Precision
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loss import PanoHeadLoss, RealBatch, Stats, schedule_at
from panohead.training.options import TrainOptions, fit_to_generator, for_finetuning
from panohead.training.report import RunLog, finite, write_progress_grids, write_reals_grid
from panohead.training.snapshot import (
    SNAPSHOT_RE,
    TrainingProgress,
    latest_snapshot,
    load_optimiser,
    read_snapshot,
    snapshot_name,
    write_snapshot,
)

DATA_STREAM = 1 << 20  # phase index used for the real-image draws (distinct from the loss phases)
STOP_SYNC_STEPS = 4  # with several processes, agree on a stop request every this many steps
# Options that may change when resuming without breaking anything (they do not touch the maths).
RESUME_FREE_FIELDS = {"kimg", "snap_kimg", "tick_kimg", "workers", "keep_snapshots", "grid_seeds", "batch_gpu"}


@dataclass
class RunSpec:
    """A training run: data, output folder, model and options, and where to start from."""

    data: str
    outdir: str
    config: GeneratorConfig
    options: TrainOptions
    masks: str | None = None
    resume: str | None = None  # a snapshot, or "auto" for the newest in outdir (fresh start when none)
    finetune: str | None = None  # a checkpoint whose weights (and architecture) to start from
    device: str = "auto"
    command: str = ""
    max_minutes: float | None = None  # stop this session (with a snapshot) after this much wall time
    cudnn_benchmark: bool = True  # let cuDNN time its kernels for every new conv shape (CUDA only)


@dataclass
class Process:
    """This process's place in the (possibly distributed) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_process(device: str = "auto") -> Process:
    """Join the process group that torchrun (or :func:`spawn`) described in the environment, if any.

    NCCL connects CUDA processes and gloo CPU ones; each process takes GPU ``LOCAL_RANK``.
    """
    target = pick_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Process(device=target)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Process(rank, world, target)


def chunk_seed(*keys: int) -> int:
    """A 63-bit seed mixed from non-negative integer keys (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> np.uint64(1))


class StepSampler(torch.utils.data.Sampler):
    """For every step from ``start_step`` on, this process's share of the step's global batch of indices.

    The global batch is drawn with the yaw-balancing ``weights`` (with replacement) from a generator
    seeded by (seed, step), so it does not depend on the number of processes or on restarts.
    """

    def __init__(self, weights: torch.Tensor, batch: int, share: slice, seed: int, start_step: int) -> None:
        self.weights, self.batch, self.share, self.seed, self.start_step = weights, batch, share, seed, start_step

    def __iter__(self):
        step = self.start_step
        while True:
            generator = torch.Generator().manual_seed(chunk_seed(self.seed, step, DATA_STREAM))
            yield torch.multinomial(self.weights, self.batch, replacement=True, generator=generator)[
                self.share
            ].tolist()
            step += 1


@dataclass(frozen=True)
class Phase:
    """One optimiser update of a training step: which network, which loss, how often (lazy regularisation)."""

    name: str  # "G_main", "G_reg", "D_main" or "D_reg"
    interval: int

    @property
    def network(self) -> str:
        return self.name[0]


class PhaseTimer:
    """Seconds per part of the step, summed until read.

    GPU work is timed with CUDA events (read once per tick, so no step waits for the GPU); CPU-side
    waits such as data loading (``device_side=False``) with the wall clock. Disabled timers do nothing.
    """

    def __init__(self, device: torch.device, enabled: bool = True) -> None:
        self.cuda = device.type == "cuda"
        self.enabled = enabled
        self.events: dict[str, list] = {}
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, device_side: bool = True):
        if not self.enabled:
            yield
        elif self.cuda and device_side:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self.events.setdefault(name, []).append((start, end))
        else:
            start = time.perf_counter()
            yield
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def read(self) -> dict[str, float]:
        totals = dict(self.seconds)
        if self.events:
            torch.cuda.synchronize()
            for name, spans in self.events.items():
                totals[name] = totals.get(name, 0.0) + sum(s.elapsed_time(e) for s, e in spans) / 1000
        self.events, self.seconds = {}, {}
        return {k: round(v, 4) for k, v in sorted(totals.items())}


# Exit status of a run that a signal stopped (after its snapshot), by the shell's convention
# 128 + signal number, so scripts and schedulers see the run did not finish; a run that reached
# its length or its --max-minutes exits 0.
SIGNAL_EXIT_STATUS = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


def exit_status(reason: str | None) -> int:
    """The process exit status for a run that stopped for ``reason`` (the ``stop`` record's)."""
    return SIGNAL_EXIT_STATUS.get(reason or "", 0)


class StopRequest:
    """SIGINT/SIGTERM set a flag the loop checks between steps; a second signal aborts at once."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.reason is not None:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def agreed_stop(
    stop: StopRequest, process: Process, step: int, session_start: float, max_minutes: float | None
) -> bool:
    """Stop on a signal or the time limit: with one process at once; with several, all at the same step
    (they agree every :data:`STOP_SYNC_STEPS` steps)."""
    if max_minutes is not None and stop.reason is None and time.perf_counter() - session_start > max_minutes * 60:
        stop.reason = "time limit"
    if process.world == 1:
        return stop.reason is not None
    if step % STOP_SYNC_STEPS:
        return False
    flag = torch.tensor([1.0 if stop.reason else 0.0], device=process.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


class StartupClock:
    """Wall seconds of the named parts of a run's start-up (the ``startup`` log record)."""

    def __init__(self, **seconds: float) -> None:
        self.seconds = dict(seconds)

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


class Trainer:
    """Networks, optimisers, data and counters of one process of a run; :meth:`run` trains to the end."""

    def __init__(self, spec: RunSpec, process: Process | None = None, startup: StartupClock | None = None) -> None:
        self.spec = spec
        self.startup = startup = startup or StartupClock()
        self.process = process = process or Process(device=pick_device(spec.device))
        self.device = device = process.device
        self.outdir = Path(spec.outdir)
        config, options, finetune_state = spec.config, spec.options, None
        if spec.finetune:
            finetune_state = self._read_finetune_source(Path(spec.finetune))
            config = finetune_state["config"]
            options = for_finetuning(fit_to_generator(options, config))
            if finetune_state.get("d_config") is not None:  # keep the source's discriminator (e.g. an official D)
                options = options.replace(discriminator=finetune_state["d_config"])
        self.config, self.options = config, options

        self.batch_gpu = options.batch_gpu or options.batch // process.world
        if self.batch_gpu < 1 or options.batch % (self.batch_gpu * process.world):
            raise ValueError(
                f"batch {options.batch} must be a multiple of {process.world} process(es) x "
                f"{self.batch_gpu} images per pass (--batch-gpu)"
            )
        self.chunks = options.batch // self.batch_gpu
        self.rounds = self.chunks // process.world

        with startup("dataset"):
            self.dataset = HeadDataset(spec.data, spec.masks, resolution=config.image_resolution, xflip=options.xflip)
            self.weights = yaw_balanced_sampler(self.dataset).weights
            self.labels = self.dataset.labels.to(device)

        with startup("networks"):
            torch.manual_seed(options.seed)
            self.G = PanoHeadGenerator(config).train().requires_grad_(False).to(device)
            if self.G.camera_adapter is not None:
                # Start self-adaptation from zero offsets (the official random init shifts cameras by ~1 unit,
                # which a long run can afford to unlearn but a short one cannot).
                torch.nn.init.zeros_(self.G.camera_adapter.layers[-1].weight)
            self.D = TriDiscriminator(options.discriminator).train().requires_grad_(False).to(device)
            if device.type == "cuda" and options.channels_last:
                self.D.use_channels_last()
            self.G_ema = copy.deepcopy(self.G).eval()

        self.phases = [Phase("G_main", 1), Phase("D_main", 1)]
        if options.loss.density_reg > 0:
            self.phases.insert(1, Phase("G_reg", options.g_reg_interval))
        if options.loss.r1_gamma > 0 or options.loss.r1_gamma_mask > 0:
            self.phases.append(Phase("D_reg", options.d_reg_interval))
        lazy = {p.network: p.interval for p in self.phases if p.name.endswith("reg")}
        self.optimisers = {
            "opt_G": self._adam(self.G, options.g_lr, lazy.get("G")),
            "opt_D": self._adam(self.D, options.d_lr, lazy.get("D")),
        }
        self.progress = TrainingProgress()
        self.resumed_from: Path | None = None
        self.stop_reason: str | None = None  # why run() ended: "done", "SIGINT", "SIGTERM", "time limit", ...
        with startup("resume"):
            if spec.resume:
                self._resume(spec.resume)
            elif finetune_state is not None:
                self._load_finetune(finetune_state)
        with startup("broadcast"):
            self._broadcast_parameters()

        # TF32 for all float32 work on a GPU; bf16 autocast for the forward passes with mixed precision.
        self.precision = Precision("bf16" if device.type == "cuda" and options.mixed_precision else None, tf32=True)
        self.loss = PanoHeadLoss(self.G, self.D, options.loss, lambda: self.precision.autocast(device))
        self.timer = PhaseTimer(device, enabled=process.main)
        self.stats: dict[str, list[torch.Tensor]] = {}

    # --- Set-up ---------------------------------------------------------------------------------
    def _adam(self, module: torch.nn.Module, lr: float, reg_interval: int | None) -> torch.optim.Adam:
        """Adam; with lazy regularisation every k steps, lr and betas are rescaled by k / (k + 1) (StyleGAN2).

        Fused (one kernel for every parameter) on the CPU too: the per-parameter loop of the plain
        implementation dispatched some 2,000 operations and read every parameter's step count back to
        the host (``.item()``) at each step of the medium preset.
        """
        ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
        betas = tuple(beta**ratio for beta in self.options.betas)
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=betas, eps=1e-8, fused=fused)

    def _read_finetune_source(self, path: Path) -> dict:
        """Weights to fine-tune from: our generator or snapshot file, or an official ``.pkl`` (with its D)."""
        if path.suffix.lower() == ".pkl":
            official = load_official_snapshot(path)
            D = official.D
            return {
                "config": official.G_ema.config,
                "G": (official.G or official.G_ema).state_dict(),
                "G_ema": official.G_ema.state_dict(),
                "D": D.state_dict() if D else None,
                "d_config": D.config if D else None,
            }
        _, metadata = load_tensors(path, ("generator", "snapshot"))
        if metadata["kind"] == "snapshot":
            state = read_snapshot(path)
            return {
                "config": state.config,
                "G": state.generator,
                "G_ema": state.generator_ema,
                "D": state.discriminator,
                "d_config": state.d_config,
            }
        G = load_generator(path)
        return {"config": G.config, "G": G.state_dict(), "G_ema": G.state_dict(), "D": None}

    def _load_finetune(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        if state["D"] is not None and state["d_config"] == self.D.config:
            self.D.load_state_dict(state["D"])
        elif self.process.main:
            print(f"note: {self.spec.finetune} has no matching discriminator; D starts from scratch", file=sys.stderr)

    def _resume(self, resume: str) -> None:
        path = latest_snapshot(self.outdir) if resume == "auto" else Path(resume)
        if path is None:
            return
        state = read_snapshot(path)
        if state.options is None:
            raise CheckpointError(
                f"{path}: converted from an official snapshot, it holds no training state to resume; "
                "start from it with --finetune"
            )
        if state.config != self.config:
            changed = [
                f.name for f in fields(GeneratorConfig) if getattr(state.config, f.name) != getattr(self.config, f.name)
            ]
            raise CheckpointError(
                f"{path}: snapshot was trained with a different generator ({', '.join(changed)} differ); "
                "use the same preset and options, or --finetune"
            )
        if state.d_config != self.D.config:
            raise CheckpointError(f"{path}: snapshot's discriminator differs from these options ({state.d_config})")
        changed = [
            f.name
            for f in fields(TrainOptions)
            if f.name not in RESUME_FREE_FIELDS and getattr(state.options, f.name) != getattr(self.options, f.name)
        ]
        if changed and self.process.main:
            print(
                f"note: resuming {path.name} with changed options: {', '.join(changed)} "
                "(the run will not match an uninterrupted one)",
                file=sys.stderr,
            )
        self.G.load_state_dict(state.generator)
        self.G_ema.load_state_dict(state.generator_ema)
        self.D.load_state_dict(state.discriminator)
        for name, optimiser in self.optimisers.items():
            load_optimiser(optimiser, state.optimisers[name])
        self.progress = state.progress
        self.resumed_from = path

    def _broadcast_parameters(self) -> None:
        """Every process starts from rank 0's weights (they already agree; this guards against drift)."""
        if self.process.world == 1:
            return
        for module in (self.G, self.G_ema, self.D):
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def data_iterator(self, workers: int | None = None):
        """Batches of this process's share of each step's real images, from the current step on."""
        share = slice(
            self.process.rank * self.rounds * self.batch_gpu, (self.process.rank + 1) * self.rounds * self.batch_gpu
        )
        sampler = StepSampler(self.weights, self.options.batch, share, self.options.seed, self.progress.step)
        workers = self.options.workers if workers is None else workers
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )
        return iter(loader)

    # --- One step -------------------------------------------------------------------------------
    def _chunk_inputs(self, step: int, phase_index: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """z (b, z_dim) and rendering cameras (b, 25) of one chunk; reseeds the device RNG for the rest."""
        seed = chunk_seed(self.options.seed, step, phase_index, chunk)
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(self.batch_gpu, self.config.z_dim, generator=generator)
        index = torch.multinomial(self.weights, self.batch_gpu, replacement=True, generator=generator)
        pinned = self.device.type == "cuda"
        z = (z.pin_memory() if pinned else z).to(self.device, non_blocking=True)
        index = (index.pin_memory() if pinned else index).to(self.device, non_blocking=True)
        torch.manual_seed(seed)
        return z, self.labels[index]

    def _run_phase(
        self, phase: Phase, real: RealBatch, z: torch.Tensor, c: torch.Tensor, schedule
    ) -> tuple[torch.Tensor, Stats]:
        if phase.name == "G_main":
            return self.loss.generator_main(z, c, schedule)
        if phase.name == "G_reg":
            return self.loss.generator_reg(z, c, schedule)
        if phase.name == "D_main":
            return self.loss.discriminator_main(real, z, c, schedule)
        return self.loss.discriminator_reg(real, schedule)

    def accumulate(self, phase_index: int, batch: dict) -> None:
        """Gradients of one phase for the whole global batch, left in ``.grad`` of its network.

        Each chunk's loss is scaled by interval / chunks, so the summed (and all-reduced) gradient is
        the mean over the global batch times the lazy-regularisation interval.
        """
        phase = self.phases[phase_index]
        module = self.G if phase.network == "G" else self.D
        step = self.progress.step
        schedule = schedule_at(self.options.loss, self.progress.nimg)
        module.requires_grad_(True)
        for parameter in module.parameters():
            parameter.grad = None
        images, masks, labels = (
            batch[key].to(self.device, non_blocking=True).split(self.batch_gpu) for key in ("image", "mask", "label")
        )
        for round_index in range(self.rounds):
            chunk = self.process.rank * self.rounds + round_index
            z, c = self._chunk_inputs(step, phase_index, chunk)
            real = RealBatch.from_dataset(images[round_index], masks[round_index], labels[round_index], schedule)
            with fused_layers(self.options.fused_layers):  # the backward follows what the forward recorded
                loss, stats = self._run_phase(phase, real, z, c, schedule)
            (loss * (phase.interval / self.chunks)).backward()
            if self.process.main:
                for key, value in stats.items():
                    self.stats.setdefault(key, []).append(value)
        module.requires_grad_(False)
        self._reduce_gradients(module)

    def _reduce_gradients(self, module: torch.nn.Module) -> None:
        """Sum gradients over processes (one flat all-reduce) and replace NaN/inf like the official loop."""
        params = [p for p in module.parameters() if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.flatten() for p in params])
        if self.process.world > 1:
            dist.all_reduce(flat)
        torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
        for parameter, grad in zip(params, flat.split([p.numel() for p in params]), strict=True):
            parameter.grad = grad.view_as(parameter)

    def step(self, batch: dict) -> None:
        """All phases due at this step, then the EMA update; advances the counters."""
        batch = {key: batch[key].to(self.device, non_blocking=True) for key in ("image", "mask", "label")}
        for index, phase in enumerate(self.phases):
            if self.progress.step % phase.interval:
                continue
            with self.timer(phase.network):
                self.accumulate(index, batch)
                self.optimisers["opt_" + phase.network].step()
        with self.timer("ema"):
            self._update_ema()
        self.progress.nimg += self.options.batch
        self.progress.step += 1

    @torch.no_grad()
    def _update_ema(self) -> None:
        options = self.options
        ema_nimg = options.ema_kimg * 1000
        if options.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.progress.nimg * options.ema_rampup)
        beta = 0.5 ** (options.batch / max(ema_nimg, 1e-8))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - beta)
        torch._foreach_copy_(list(self.G_ema.buffers()), list(self.G.buffers()))

    # --- Outputs --------------------------------------------------------------------------------
    def tick_record(self, elapsed: float, images: int) -> dict:
        """Mean statistics since the last tick (one device sync), rates and schedule values."""
        keys = sorted(self.stats)
        means = torch.stack([torch.stack(self.stats[k]).float().mean() for k in keys]).tolist() if keys else []
        self.stats = {}
        schedule = schedule_at(self.options.loss, self.progress.nimg)
        rate = images / max(elapsed, 1e-9)
        total = self.options.kimg * 1000
        record = {
            "nimg": self.progress.nimg,
            "kimg": round(self.progress.nimg / 1000, 3),
            "step": self.progress.step,
            "train_seconds": round(self.progress.train_seconds, 2),
            "images_per_s": round(rate, 2),
            "eta_s": round(max(total - self.progress.nimg, 0) / rate, 1),
            **{k: finite(v) for k, v in zip(keys, means, strict=True)},
            "blur_sigma": schedule.blur_sigma,
            "pose_swap_prob": schedule.pose_swap_prob,
            "density_noise": schedule.density_noise,
            "neural_resolution": schedule.neural_resolution,
            "seconds": self.timer.read(),
        }
        if self.device.type == "cuda":
            record["gpu_mem_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
            torch.cuda.reset_peak_memory_stats(self.device)
        return record

    def save_snapshot(self) -> None:
        """Write the snapshot (atomically) and drop the oldest beyond ``keep_snapshots``."""
        path = self.outdir / snapshot_name(self.progress.nimg)
        write_snapshot(
            path,
            self.G,
            self.G_ema,
            self.D,
            self.optimisers,
            self.options,
            self.progress,
            self.spec.data,
            self.dataset.kind,
        )
        if self.options.keep_snapshots > 0:
            existing = sorted(p for p in self.outdir.glob("snapshot-*.safetensors") if SNAPSHOT_RE.fullmatch(p.name))
            for old in existing[: -self.options.keep_snapshots]:
                old.unlink(missing_ok=True)

    def write_run_files(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        for stale in self.outdir.glob(".snapshot-*.partial*"):
            stale.unlink(missing_ok=True)  # temp files of a write that was killed
        description = {
            "generator": json.loads(self.config.to_json()),
            "train_options": json.loads(self.options.to_json()),
            "data": self.spec.data,
            "masks": self.spec.masks,
            "world_size": self.process.world,
            "command": self.spec.command,
            "resumed_from": str(self.resumed_from) if self.resumed_from else None,
            "finetune_from": self.spec.finetune,
        }
        write_bytes_atomic(self.outdir / "options.json", (json.dumps(description, indent=2) + "\n").encode())
        reals = self.outdir / "reals.png"
        if not reals.exists():
            items = [self.dataset[i] for i in range(min(16, len(self.dataset)))]
            write_reals_grid(
                reals, torch.stack([it["image"] for it in items]), torch.stack([it["mask"] for it in items])
            )

    # --- The loop -------------------------------------------------------------------------------
    def run(self, after_step: Callable[[Trainer], None] | None = None) -> Path | None:
        """Train until ``kimg``, a signal, or an error; returns the last snapshot written (None: none yet)."""
        options, process, progress = self.options, self.process, self.progress
        total = int(round(options.kimg * 1000))
        tick_every = max(1, int(round(options.tick_kimg * 1000)))
        snap_every = max(1, int(round(options.snap_kimg * 1000)))
        log = RunLog(self.outdir / "log.jsonl") if process.main else None
        if process.main:
            with self.startup("run_files"):
                self.write_run_files()
            log.write(
                "start",
                nimg=progress.nimg,
                kimg_total=options.kimg,
                batch=options.batch,
                batch_gpu=self.batch_gpu,
                world_size=process.world,
                device=str(self.device),
                resumed_from=self.resumed_from.name if self.resumed_from else None,
                finetune_from=self.spec.finetune,
            )
        bar = tqdm(
            total=total,
            initial=min(progress.nimg, total),
            unit="img",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not process.main,
            desc="train",
            smoothing=0.05,
        )
        next_tick = (progress.nimg // tick_every + 1) * tick_every
        next_snap = (progress.nimg // snap_every + 1) * snap_every
        session_start = time.perf_counter()
        tick_start = (session_start, progress.nimg)
        last_snapshot, last_snapshot_nimg = self.resumed_from, progress.nimg if self.resumed_from else -1
        reason = None
        first_steps: list[float] | None = [] if process.main else None  # until the startup record is written
        warm_up_steps = max(phase.interval for phase in self.phases)
        data = self.data_iterator()
        try:
            with (
                StopRequest() as stop,
                self.precision.float32.scope(self.device),
                cudnn_benchmark(self.spec.cudnn_benchmark and self.device.type == "cuda"),
            ):
                while True:
                    if progress.nimg >= total:
                        reason = "done"
                    elif self._agreed_stop(stop, session_start):
                        reason = stop.reason or "stop requested by another process"
                    if reason is None:
                        started = time.perf_counter()
                        with self.timer("data", device_side=False):
                            batch = next(data)
                        self.step(batch)
                        if first_steps is not None:
                            if self.device.type == "cuda":
                                torch.cuda.synchronize(self.device)
                            first_steps.append(round(time.perf_counter() - started, 3))
                        progress.train_seconds += time.perf_counter() - started
                        bar.update(options.batch)
                        if after_step is not None:
                            after_step(self)
                    if first_steps is not None and (len(first_steps) >= warm_up_steps or reason):
                        log.write(
                            "startup",
                            **self.startup.seconds,
                            first_steps=first_steps,
                            cudnn_benchmark=self.spec.cudnn_benchmark and self.device.type == "cuda",
                        )
                        first_steps = None
                    if process.main and (progress.nimg >= next_tick or reason):
                        now = time.perf_counter()
                        if progress.nimg > tick_start[1]:
                            record = self.tick_record(now - tick_start[0], progress.nimg - tick_start[1])
                            log.write("tick", **record)
                            bar.set_postfix(G=record.get("loss_G"), D=record.get("loss_D"), refresh=False)
                        tick_start = (now, progress.nimg)
                    next_tick = (progress.nimg // tick_every + 1) * tick_every
                    if progress.nimg >= next_snap or (reason and progress.nimg != last_snapshot_nimg):
                        last_snapshot, last_snapshot_nimg = self._snapshot(log), progress.nimg
                        next_snap = (progress.nimg // snap_every + 1) * snap_every
                    if reason:
                        break
        except Exception as error:
            if log is not None:
                log.write("error", message=f"{type(error).__name__}: {one_line(error)}")
            raise
        finally:
            bar.close()
        if log is not None:
            log.write("stop", nimg=progress.nimg, reason=reason)
        self.stop_reason = reason
        return last_snapshot

    def _agreed_stop(self, stop: StopRequest, session_start: float) -> bool:
        return agreed_stop(stop, self.process, self.progress.step, session_start, self.spec.max_minutes)

    def _snapshot(self, log: RunLog | None) -> Path:
        """Rank 0 writes the snapshot and grids; the others wait so nobody runs ahead of a slow disk."""
        path = self.outdir / snapshot_name(self.progress.nimg)
        if self.process.main:
            self.save_snapshot()
            stem = path.name.replace("snapshot-", "grid-").removesuffix(".safetensors")
            grid, mask_grid = write_progress_grids(self.outdir, stem, self.G_ema, self.options.grid_seeds, self.device)
            log.write("snapshot", nimg=self.progress.nimg, path=path.name, grid=grid.name, mask_grid=mask_grid.name)
        if self.process.world > 1:
            dist.barrier()
        return path


def train(spec: RunSpec, after_step: Callable[[Trainer], None] | None = None) -> tuple[Path | None, str | None]:
    """Train in this process (joining a torchrun group when the environment describes one).

    Returns the last snapshot written and why the run stopped ("done", "SIGINT", "SIGTERM", ...).
    """
    startup = StartupClock()
    with startup("process_group"):
        process = start_process(spec.device)
    try:
        trainer = Trainer(spec, process, startup)
        return trainer.run(after_step), trainer.stop_reason
    finally:
        if process.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _spawned(rank: int, world: int, port: int, spec, target: Callable) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    target(spec)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(spec, processes: int, target: Callable = train) -> None:
    """Run ``target(spec)`` (default: :func:`train` of a :class:`RunSpec`) in ``processes`` local processes
    (one per GPU) joined as one torch.distributed group, without torchrun."""
    torch.multiprocessing.spawn(_spawned, args=(processes, free_port(), spec, target), nprocs=processes, join=True)
