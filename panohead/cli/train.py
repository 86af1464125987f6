"""``panohead train``: train or fine-tune a model; ``panohead train export``: a snapshot's G_ema as a checkpoint;
``panohead train compact``: a snapshot in parts small enough to carry between GPU leases."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys

import click
import torch

from panohead.cli.common import Number, gpus_option, output_folder, user_errors
from panohead.config import PRESET_NAMES
from panohead.devices import DEVICE_CHOICES


@click.group(invoke_without_command=True)
@click.option("--data", type=click.Path(), help="Dataset folder or zip (images + dataset.json).")
@click.option("--masks", type=click.Path(), default=None, help="Mask folder or zip (default: <data>_masks beside it).")
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default="small",
    show_default=True,
    help="Model size and training hyper-parameters.",
)
@click.option("--outdir", type=click.Path(file_okay=False), help="Run folder (log.jsonl, snapshots, grids).")
@click.option(
    "--kimg", type=Number(min=0, min_open=True), default=None, help="Training length in thousands of real images."
)
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Global batch size (all GPUs together).")
@click.option(
    "--batch-gpu",
    type=click.IntRange(min=1),
    default=None,
    help="Images per forward pass and GPU (gradient accumulation).",
)
@click.option(
    "--snap-kimg", type=Number(min=0, min_open=True), default=None, help="Snapshot and grid interval in kimg."
)
@click.option("--tick-kimg", type=Number(min=0, min_open=True), default=None, help="Log interval in kimg.")
@click.option(
    "--resume",
    default=None,
    help="Snapshot to continue from (full, or any part of a compact one), or 'auto' "
    "for the newest in --outdir (fresh start if none).",
)
@click.option(
    "--finetune",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from the weights of a checkpoint (ours or an official .pkl) with its architecture.",
)
@gpus_option
@click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default="auto",
    show_default=True,
    help="Where to train; auto uses CUDA when present (with --gpus, one process per GPU).",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed of the run.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Data loading processes per GPU.")
@click.option("--gamma", type=Number(min=0), default=None, help="R1 weight on the image channels.")
@click.option("--gamma-mask", type=Number(min=0), default=None, help="R1 weight on the mask channel.")
@click.option("--glr", type=Number(min=0, min_open=True), default=None, help="Generator learning rate.")
@click.option("--dlr", type=Number(min=0, min_open=True), default=None, help="Discriminator learning rate.")
@click.option(
    "--camera-offset-weight",
    type=Number(min=0),
    default=None,
    help="Weight of the self-adaptation offset penalty (official trans_reg, 10).",
)
@click.option("--density-reg", type=Number(min=0), default=None, help="Density (TV) regularisation weight; 0 = off.")
@click.option(
    "--neural-res-final",
    type=click.IntRange(min=16),
    default=None,
    help="Fade the neural rendering resolution to this (e.g. 128, the paper's optional second stage).",
)
@click.option("--grid-depth", type=click.IntRange(min=1), default=None, help="Tri-grid depth D (1 = EG3D tri-plane).")
@click.option(
    "--mask-channel/--no-mask-channel", default=None, help="Give the discriminator the mask channel (default on)."
)
@click.option(
    "--self-adaptation/--no-self-adaptation", default=None, help="Camera self-adaptation network (default on)."
)
@click.option("--xflip/--no-xflip", default=None, help="Mirror images (and their cameras) as extra data.")
@click.option("--fp32", is_flag=True, help="Disable bf16 mixed precision on the GPU.")
@click.option(
    "--fused-layers/--plain-layers",
    default=None,
    help="Memory-lean conv layers (default on: 40% less generator memory, a few % slower; docs/performance.md).",
)
@click.option(
    "--cudnn-benchmark/--no-cudnn-benchmark",
    default=True,
    show_default=True,
    help="Let cuDNN time its kernels for every new conv shape (faster steps, a slower first tick; the log's "
    "startup record shows the cost).",
)
@click.option(
    "--keep-snapshots", type=click.IntRange(min=0), default=None, help="How many snapshots to keep (0 = all)."
)
@click.option(
    "--max-minutes",
    type=Number(min=0, min_open=True),
    default=None,
    help="Stop this session after this many minutes (writing a snapshot), e.g. before a machine lease ends.",
)
@click.pass_context
@user_errors
def train(
    ctx,
    data,
    masks,
    preset,
    outdir,
    kimg,
    batch,
    batch_gpu,
    snap_kimg,
    tick_kimg,
    resume,
    finetune,
    gpus,
    device,
    seed,
    workers,
    gamma,
    gamma_mask,
    glr,
    dlr,
    camera_offset_weight,
    density_reg,
    neural_res_final,
    grid_depth,
    mask_channel,
    self_adaptation,
    xflip,
    fp32,
    fused_layers,
    keep_snapshots,
    cudnn_benchmark,
    max_minutes,
):
    """Train (or fine-tune) a PanoHead model on a dataset of heads with camera labels and masks.

    Writes log.jsonl, snapshot-N.safetensors and grid-N.png to --outdir (N = images seen); stop with
    Ctrl-C or SIGTERM to write a snapshot and exit, continue with --resume auto. Multi-node: run
    `torchrun ... -m panohead.cli train ...` on every node.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not data or not outdir:
        raise click.UsageError("--data and --outdir are required to train (or use 'panohead train export')")
    from panohead.training.loop import RunSpec, exit_status, spawn
    from panohead.training.loop import train as run_training
    from panohead.training.options import training_preset

    generator = {
        k: v for k, v in {"grid_depth": grid_depth, "camera_adapter": self_adaptation}.items() if v is not None
    }
    if finetune and generator:
        raise click.UsageError(
            "--grid-depth / --self-adaptation cannot change the architecture of a --finetune checkpoint"
        )
    if finetune and resume:
        raise click.UsageError("use either --resume (continue a run) or --finetune (start a new run from weights)")
    given = lambda **values: {k: v for k, v in values.items() if v is not None}  # noqa: E731
    config, options = training_preset(
        preset,
        generator,
        **given(
            kimg=kimg,
            batch=batch,
            batch_gpu=batch_gpu,
            snap_kimg=snap_kimg,
            tick_kimg=tick_kimg,
            seed=seed,
            workers=workers,
            g_lr=glr,
            d_lr=dlr,
            xflip=xflip,
            keep_snapshots=keep_snapshots,
            fused_layers=fused_layers,
        ),
    )
    options = options.replace(
        mixed_precision=not fp32,
        loss=dataclasses.replace(
            options.loss,
            **given(
                r1_gamma=gamma,
                r1_gamma_mask=gamma_mask,
                camera_offset_weight=camera_offset_weight,
                density_reg=density_reg,
                neural_resolution_final=neural_res_final,
            ),
        ),
        discriminator=dataclasses.replace(options.discriminator, **given(mask_channel=mask_channel)),
    )
    output_folder(outdir)
    spec = RunSpec(
        data=data,
        outdir=outdir,
        config=config,
        options=options,
        masks=masks,
        resume=resume,
        finetune=finetune,
        device=device,
        command=shlex.join(["panohead", *sys.argv[1:]]),
        max_minutes=max_minutes,
        cudnn_benchmark=cudnn_benchmark,
    )
    reason = None
    if "WORLD_SIZE" in os.environ or gpus == 1:
        last, reason = run_training(spec)
    else:
        if device != "cpu" and torch.cuda.device_count() < gpus:
            raise click.ClickException(
                f"--gpus {gpus} asks for more GPUs than this machine has ({torch.cuda.device_count()})"
            )
        spawn(spec, gpus)
        from panohead.training.snapshot import latest_snapshot

        last = latest_snapshot(outdir)
    if "WORLD_SIZE" not in os.environ or os.environ.get("RANK") == "0":
        click.echo(f"last snapshot: {last}" if last else "no snapshot written")
    if "WORLD_SIZE" not in os.environ and exit_status(reason):
        # Interrupted (the snapshot is written): say so in the exit status. Under torchrun the
        # workers exit 0 and torchrun's own status reports the signal it forwarded.
        ctx.exit(exit_status(reason))


@train.command("export")
@click.argument("snapshot", type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--fp32", is_flag=True, help="Keep float32 weights (default: float16, half the size).")
@user_errors
def export(snapshot, output, fp32):
    """Write the G_ema of a training SNAPSHOT (full, or any part of a compact one) as a generator checkpoint
    OUTPUT (atomically)."""
    from panohead.training.snapshot import export_generator

    export_generator(snapshot, output, half=not fp32)
    size = os.path.getsize(output) / 2**20
    click.echo(f"wrote {output} ({size:.1f} MiB, {'float32' if fp32 else 'float16'})")


part_mib_option = click.option(
    "--part-mib",
    type=Number(min=0, min_open=True),
    default=None,
    help="Tensor data per part in MiB (default 15: each file stays under 16 MiB).",
)


@train.command("compact")
@click.argument("snapshot", type=click.Path(dir_okay=False))
@click.argument("folder", type=click.Path(file_okay=False))
@part_mib_option
@user_errors
def compact(snapshot, folder, part_mib):
    """Write a full training SNAPSHOT as a compact one (fp16 G_ema and D, 8-bit codes for G and Adam) in parts
    into FOLDER.

    Resume from it with `panohead train --resume FOLDER/compact-N-part1ofK.safetensors`; export its G_ema with
    `panohead train export` on the same file.
    """
    from panohead.training.compact import PART_MIB
    from panohead.training.snapshot import compact_snapshot

    _report_parts(compact_snapshot(snapshot, folder, part_mib or PART_MIB))


@train.command("recompact")
@click.argument("part", type=click.Path(dir_okay=False))
@click.argument("folder", type=click.Path(file_okay=False))
@part_mib_option
@user_errors
def recompact(part, folder, part_mib):
    """Rewrite the compact snapshot that PART (any of its files) belongs to in the current, smaller format
    (8-bit block codes for G's difference from G_ema and for Adam's moments) into FOLDER.

    Older parts keep loading as they are; rewriting them saves about 12 MB of the 40 MB that the medium
    run's parts took. Write into another folder, then replace the old parts with the new ones.
    """
    from panohead.training.compact import PART_MIB
    from panohead.training.snapshot import recompact as rewrite

    _report_parts(rewrite(part, folder, part_mib or PART_MIB))


def _report_parts(parts: list) -> None:
    total = sum(p.stat().st_size for p in parts) / 2**20
    for part in parts:
        click.echo(f"wrote {part} ({part.stat().st_size / 2**20:.1f} MiB)")
    click.echo(f"{len(parts)} parts, {total:.1f} MiB in all")
