"""Training the inversion encoder (:mod:`panohead.inversion.encoder`) on the generator's own samples.

Every step draws a batch of heads from the frozen generator: random z, truncation psi uniform in
[``psi_min``, 1] (towards the frontal mean w), a camera at any yaw around the whole orbit (pitch
normal with std ``pitch_std``), the mapping conditioned on the frontal camera or on the render
camera (each half the time), rendered with their own backgrounds. The encoder sees the image and its
camera and predicts w+; the loss is

    l2_weight * MSE(G(w+_pred, c), image) + perceptual_weight * perceptual(G(w+_pred, c), image)
    + latent_weight * mean((w+_pred - w+)^2) / (spread^2 / w_dim)

(the rendered reconstruction, through the frozen generator, plus the distance to the true latent in
units of the variance of a random w per element). The perceptual distance is the inversion's
(:func:`panohead.inversion.perceptual_loss`: LPIPS when its weights are on disk, else the offline one).

Run folder (``--outdir``): ``log.jsonl`` (``start``, ``tick`` every ``log_every`` steps with the mean
losses, ``snapshot``, ``stop``), compact snapshots ``compact-N-partKofM.safetensors`` (N = images seen;
:mod:`panohead.training.compact`: encoder weights in float16, Adam moments in 8-bit and bf16 codes, options and
progress; the newest ``keep_snapshots`` are kept) and ``encoder.safetensors`` (the latest encoder, what
``panohead invert --encoder`` reads), all written atomically. Every random draw of step s comes from
a generator seeded by (seed, s, rank), so a resumed run continues the same run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist

from panohead.checkpoint import CheckpointError
from panohead.devices import pick_device
from panohead.errors import one_line
from panohead.generator import PanoHeadGenerator
from panohead.inversion.encoder import EncoderConfig, LatentEncoder, encoder_for, save_encoder
from panohead.inversion.latent import latent_prior
from panohead.inversion.objective import pair_distance, render_view
from panohead.inversion.perceptual import Perceptual, perceptual_loss
from panohead.model_source import ModelSource
from panohead.precision import TF32
from panohead.training.compact import read_compact, write_compact
from panohead.training.loop import Process, StopRequest, agreed_stop, chunk_seed, start_process
from panohead.training.report import RunLog, finite
from panohead.training.snapshot import TrainingProgress, flatten_optimiser, load_optimiser
from panohead.untrusted import parse_json
from panohead.views.camera import frontal_camera, orbit_camera

RUN_KIND = "encoder"  # the compact snapshot's "run" metadata: not a GAN snapshot
ENCODER_FILE = "encoder.safetensors"
COMPACT_GLOB = "compact-*-part*of*.safetensors"


@dataclass(frozen=True)
class EncoderOptions:
    """Hyper-parameters of an encoder run (batch is global, over all processes)."""

    steps: int = 20_000
    batch: int = 8
    lr: float = 1e-4
    psi_min: float = 0.5
    pitch_std: float = 15.0  # degrees
    frontal_conditioning: float = 0.5  # chance that the mapping sees the frontal camera, not the render camera
    l2_weight: float = 1.0
    perceptual_weight: float = 1.0
    latent_weight: float = 1.0
    snapshot_every: int = 500  # steps
    log_every: int = 50  # steps
    keep_snapshots: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "snapshot_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be at least 1")
        if not 0 <= self.psi_min <= 1:
            raise ValueError(f"psi_min = {self.psi_min}: must lie between 0 and 1")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EncoderOptions:
        values = parse_json(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class HeadBatch:
    """Generator samples: images (B, 3, R, R) in [-1, 1], their cameras (B, 25) and true ws (B, num_ws, w_dim)."""

    images: torch.Tensor
    cameras: torch.Tensor
    ws: torch.Tensor


def sample_heads(
    generator: PanoHeadGenerator, w_avg: torch.Tensor, count: int, options: EncoderOptions, seed: int
) -> HeadBatch:
    """``count`` heads of ``generator`` drawn as the module docstring says, fixed by ``seed`` alone."""
    cfg, device = generator.config, generator.device
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(count, cfg.z_dim, generator=rng)
    yaw = torch.rand(count, generator=rng) * 360.0
    pitch = (torch.randn(count, generator=rng) * options.pitch_std).clamp(-60.0, 60.0)
    psi = options.psi_min + (1.0 - options.psi_min) * torch.rand(count, generator=rng)
    frontal = torch.rand(count, generator=rng) < options.frontal_conditioning
    cameras = orbit_camera(yaw, pitch, generator)
    conditioning = torch.where(frontal[:, None].to(device), frontal_camera(generator, count), cameras)
    with torch.no_grad():
        ws = generator.mapping(z.to(device), conditioning)
        ws = w_avg[:, None] + psi.to(device)[:, None, None] * (ws - w_avg[:, None])
        images = render_view(generator, ws, cameras)
    return HeadBatch(images, cameras, ws)


class EncoderLoss:
    """The training loss of the module docstring; ``spread`` is the RMS distance of random ws from their mean."""

    def __init__(
        self, generator: PanoHeadGenerator, perceptual: Perceptual, options: EncoderOptions, spread: float
    ) -> None:
        self.generator, self.perceptual, self.options = generator, perceptual, options
        self.latent_scale = generator.config.w_dim / spread**2

    def __call__(self, encoder: LatentEncoder, batch: HeadBatch) -> tuple[torch.Tensor, dict[str, float]]:
        options = self.options
        predicted = encoder(batch.images, batch.cameras)
        rendered = render_view(self.generator, predicted, batch.cameras)
        l2 = (rendered - batch.images).square().mean()
        reconstruction = pair_distance(
            self.perceptual, rendered, batch.images, options.l2_weight, options.perceptual_weight
        )
        latent = (predicted - batch.ws).square().mean() * self.latent_scale
        total = reconstruction + options.latent_weight * latent
        parts = torch.stack([total.detach(), l2.detach(), reconstruction.detach(), latent.detach()]).tolist()
        return total, dict(zip(("loss", "l2", "reconstruction", "latent"), parts, strict=True))


@dataclass
class EncoderRun:
    """One ``panohead train-encoder`` run: the generator, the folder, options and where to start from."""

    checkpoint: str  # the generator: a checkpoint path (ours or an official .pkl) or "bundled"
    outdir: str
    options: EncoderOptions
    device: str = "auto"
    resume: str | None = None  # a compact snapshot part, or "auto" for the newest in outdir (fresh if none)
    max_minutes: float | None = None
    config: EncoderConfig | None = None  # None: EncoderConfig.for_generator


def latest_compact(folder: str | Path) -> Path | None:
    """Part 1 of the newest compact snapshot in ``folder`` (the most images seen), or None."""
    heads = sorted(Path(folder).glob("compact-*-part1of*.safetensors"))
    return heads[-1] if heads else None


class EncoderTrainer:
    """Encoder, optimiser and counters of one process; :meth:`run` trains until the end, a signal or the time limit."""

    def __init__(self, run: EncoderRun, process: Process | None = None) -> None:
        self.run_spec, self.options = run, run.options
        self.process = process or Process(device=pick_device(run.device))
        self.device = self.process.device
        self.generator = ModelSource.parse(run.checkpoint).open(self.device)
        self.outdir = Path(run.outdir)
        if run.options.batch % self.process.world:
            raise ValueError(f"batch {run.options.batch} must be a multiple of the {self.process.world} processes")
        self.batch = run.options.batch // self.process.world
        torch.manual_seed(run.options.seed)
        self.encoder = encoder_for(self.generator, run.config)
        self.encoder.train()
        self.fingerprint = self.encoder.generator_fingerprint
        prior = latent_prior(self.generator, frontal_camera(self.generator), 4096, run.options.seed)
        self.loss = EncoderLoss(self.generator, perceptual_loss(device=self.device), run.options, prior.w_spread)
        self.optimiser = torch.optim.Adam(self.encoder.parameters(), lr=run.options.lr, betas=(0.9, 0.999))
        self.progress = TrainingProgress()
        self.resumed_from: Path | None = None
        if run.resume:
            self._resume(run.resume)
        if self.process.world > 1:
            for tensor in list(self.encoder.parameters()) + list(self.encoder.buffers()):
                dist.broadcast(tensor.data, src=0)
        self.stop_reason: str | None = None

    def _resume(self, resume: str) -> None:
        path = latest_compact(self.outdir) if resume == "auto" else Path(resume)
        if path is None:
            return
        tensors, metadata = read_compact(path)
        if metadata.get("run") != RUN_KIND:
            raise CheckpointError(f"{path}: not an encoder run's snapshot (a GAN training snapshot?)")
        if metadata.get("generator_fingerprint") != self.fingerprint:
            raise CheckpointError(f"{path}: this encoder run was trained for another model; give its --checkpoint")
        try:
            config = EncoderConfig.from_json(metadata["encoder_config"])
            self.progress = TrainingProgress(**parse_json(metadata["progress"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: encoder snapshot metadata is invalid ({one_line(error)})") from None
        if config != self.encoder.config:
            raise CheckpointError(f"{path}: snapshot's encoder shape differs from this run's ({config})")
        self.encoder.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("E.")})
        load_optimiser(self.optimiser, {k[6:]: v for k, v in tensors.items() if k.startswith("opt_E.")})
        self.resumed_from = path

    def step(self) -> dict[str, float]:
        """One optimiser step on this process's share of the step's heads; returns this process's losses."""
        seed = chunk_seed(self.options.seed, self.progress.step, self.process.rank)
        batch = sample_heads(self.generator, self.encoder.w_avg, self.batch, self.options, seed)
        self.optimiser.zero_grad(set_to_none=True)
        with TF32.scope(self.device):
            total, parts = self.loss(self.encoder, batch)
        total.backward()
        if self.process.world > 1:
            grads = [p.grad for p in self.encoder.parameters() if p.grad is not None]
            flat = torch.cat([g.flatten() for g in grads])
            dist.all_reduce(flat)
            flat /= self.process.world
            torch._foreach_copy_(
                grads, [part.view_as(g) for part, g in zip(flat.split([g.numel() for g in grads]), grads, strict=True)]
            )
        self.optimiser.step()
        self.progress.step += 1
        self.progress.nimg += self.options.batch
        return parts

    def save(self) -> Path:
        """Write a compact snapshot and encoder.safetensors (rank 0 only); returns the snapshot's part 1."""
        tensors = {f"E.{k}": v for k, v in self.encoder.state_dict().items()}
        tensors.update(flatten_optimiser("opt_E", self.optimiser))
        metadata = {
            "run": RUN_KIND,
            "encoder_config": self.encoder.config.to_json(),
            "encoder_options": self.options.to_json(),
            "progress": json.dumps(self.progress.__dict__),
            "generator_fingerprint": self.fingerprint,
            "generator_source": self.run_spec.checkpoint,
        }
        parts = write_compact(self.outdir, self.progress.nimg, tensors, metadata)
        extra = {"generator_source": self.run_spec.checkpoint, "steps": str(self.progress.step)}
        save_encoder(self.outdir / ENCODER_FILE, self.encoder, extra)
        self._drop_old_snapshots()
        return parts[0]

    def _drop_old_snapshots(self) -> None:
        keep = self.options.keep_snapshots
        if keep < 1:
            return
        by_nimg: dict[str, list[Path]] = {}
        for part in self.outdir.glob(COMPACT_GLOB):
            by_nimg.setdefault(part.name.split("-")[1], []).append(part)
        for nimg in sorted(by_nimg)[:-keep]:
            for part in by_nimg[nimg]:
                part.unlink(missing_ok=True)

    def run(self) -> Path | None:
        """Train to ``options.steps``; returns the last snapshot's part 1 (None if none was written)."""
        options, progress, main = self.options, self.progress, self.process.main
        log = RunLog(self.outdir / "log.jsonl") if main else None
        if main:
            self.outdir.mkdir(parents=True, exist_ok=True)
            log.write(
                "start",
                step=progress.step,
                steps=options.steps,
                batch=options.batch,
                world_size=self.process.world,
                device=str(self.device),
                perceptual=getattr(self.loss.perceptual, "name", ""),
                resumed_from=self.resumed_from.name if self.resumed_from else None,
            )
        last, sums, tick_start, tick_steps = self.resumed_from, {}, time.perf_counter(), 0
        session_start = time.perf_counter()
        with StopRequest() as stop:
            while True:
                if progress.step >= options.steps:
                    self.stop_reason = "done"
                elif agreed_stop(stop, self.process, progress.step, session_start, self.run_spec.max_minutes):
                    self.stop_reason = stop.reason or "stop requested by another process"
                if self.stop_reason is None:
                    started = time.perf_counter()
                    for key, value in self.step().items():
                        sums[key] = sums.get(key, 0.0) + value
                    progress.train_seconds += time.perf_counter() - started
                    tick_steps += 1
                if main and tick_steps and (progress.step % options.log_every == 0 or self.stop_reason):
                    elapsed = time.perf_counter() - tick_start
                    means = {key: finite(value / tick_steps) for key, value in sums.items()}
                    log.write(
                        "tick",
                        step=progress.step,
                        nimg=progress.nimg,
                        seconds_per_step=round(elapsed / tick_steps, 4),
                        **means,
                    )
                    sums, tick_start, tick_steps = {}, time.perf_counter(), 0
                due = progress.step % options.snapshot_every == 0 and progress.step > 0
                if (due or self.stop_reason) and (last is None or _nimg(last) != progress.nimg):
                    last = self._snapshot(log)
                if self.stop_reason:
                    break
        if log is not None:
            log.write("stop", step=progress.step, reason=self.stop_reason)
        return last

    def _snapshot(self, log: RunLog | None) -> Path:
        path = self.outdir / f"compact-{self.progress.nimg:09d}"
        if self.process.main:
            path = self.save()
            log.write("snapshot", step=self.progress.step, nimg=self.progress.nimg, path=path.name)
        if self.process.world > 1:
            dist.barrier()
        return path


def _nimg(path: Path) -> int:
    return int(path.name.split("-")[1])


def train_encoder(run: EncoderRun) -> tuple[Path | None, str | None]:
    """Train in this process (joining a torchrun group when the environment describes one); returns the
    last snapshot's part 1 and why the run stopped."""
    process = start_process(run.device)
    try:
        trainer = EncoderTrainer(run, process)
        return trainer.run(), trainer.stop_reason
    finally:
        if process.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
