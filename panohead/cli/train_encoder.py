"""``panohead train-encoder``: train the instant-inversion encoder of a generator on its own samples."""

from __future__ import annotations

import os

import click
import torch

from panohead.cli.common import Number, checkpoint_option, device_option, gpus_option, output_folder, user_errors
from panohead.training.encoder import EncoderOptions, EncoderRun, latest_compact
from panohead.training.encoder import train_encoder as run_training
from panohead.training.loop import exit_status, spawn


@click.command("train-encoder")
@checkpoint_option
@click.option("--outdir", "-o", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option(
    "--steps", type=click.IntRange(min=1), default=EncoderOptions.steps, show_default=True, help="Training length."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=EncoderOptions.batch, show_default=True, help="Global batch size."
)
@click.option(
    "--lr", type=Number(min=0, min_open=True), default=EncoderOptions.lr, show_default=True, help="Adam learning rate."
)
@click.option(
    "--snapshot-every",
    type=click.IntRange(min=1),
    default=EncoderOptions.snapshot_every,
    show_default=True,
    help="Steps between snapshots.",
)
@click.option(
    "--log-every",
    type=click.IntRange(min=1),
    default=EncoderOptions.log_every,
    show_default=True,
    help="Steps between ticks.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=EncoderOptions.seed, show_default=True, help="Random seed of the run."
)
@click.option(
    "--resume",
    default=None,
    help="Any part of a compact snapshot to continue from, or 'auto' for the newest in --outdir (fresh if none).",
)
@gpus_option
@device_option
@click.option(
    "--max-minutes",
    type=Number(min=0, min_open=True),
    default=None,
    help="Stop after this many minutes (writing a snapshot), e.g. before a machine lease ends.",
)
@click.pass_context
@user_errors
def train_encoder(
    ctx, checkpoint, outdir, steps, batch, lr, snapshot_every, log_every, seed, resume, gpus, device, max_minutes
):
    """Train an encoder that maps an aligned photo and its camera to w+ in one pass, on the generator's own
    samples at random cameras (all yaws, with backgrounds); `panohead invert --encoder RUN/encoder.safetensors`
    starts from it.

    Writes log.jsonl, compact snapshots (compact-N-partKofM.safetensors, N = images seen) and
    encoder.safetensors to --outdir; Ctrl-C or SIGTERM writes a snapshot and stops; --resume auto continues.
    """
    output_folder(outdir)
    options = EncoderOptions(
        steps=steps, batch=batch, lr=lr, snapshot_every=snapshot_every, log_every=log_every, seed=seed
    )
    run = EncoderRun(checkpoint or "bundled", outdir, options, device=device, resume=resume, max_minutes=max_minutes)
    reason = None
    if "WORLD_SIZE" in os.environ or gpus == 1:
        last, reason = run_training(run)
    else:
        if device != "cpu" and torch.cuda.device_count() < gpus:
            raise click.ClickException(
                f"--gpus {gpus} asks for more GPUs than this machine has ({torch.cuda.device_count()})"
            )
        spawn(run, gpus, run_training)
        last = latest_compact(outdir)
    if "WORLD_SIZE" not in os.environ or os.environ.get("RANK") == "0":
        click.echo(f"last snapshot: {last}; encoder: {os.path.join(outdir, 'encoder.safetensors')}")
    if "WORLD_SIZE" not in os.environ and exit_status(reason):
        ctx.exit(exit_status(reason))
