"""``panohead dataset``: make, check and prepare 360-degree head datasets."""

from __future__ import annotations

import math
import time

import click
import torch
from tqdm import tqdm

from panohead.cli.common import Number, device_option, parse_numbers, user_errors
from panohead.data.synth import YAW_DISTRIBUTIONS
from panohead.devices import pick_device


@click.group()
def dataset() -> None:
    """Make, check and prepare 360-degree head datasets (images + dataset.json labels + masks)."""


@dataset.command()
@click.option("--out", "-o", required=True, type=click.Path(), help="Output folder, or a .zip path.")
@click.option("--count", "-n", default=1000, show_default=True, type=click.IntRange(1), help="Number of images.")
@click.option(
    "--resolution", "-r", default=128, show_default=True, type=click.IntRange(8, 4096), help="Image size in pixels."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(0), help="Dataset seed (same seed, same images)."
)
@click.option(
    "--yaw",
    "yaw_mode",
    type=click.Choice(YAW_DISTRIBUTIONS),
    default="ffhq",
    show_default=True,
    help="Yaw distribution: uniform over 360 degrees, or front-heavy with a long tail to the back (FFHQ-F-like).",
)
@click.option("--pitch-range", default="-20,20", show_default=True, help="Camera elevation range in degrees, MIN,MAX.")
@click.option(
    "--jitter",
    default=0.0,
    show_default=True,
    type=Number(0.0, 0.5),
    help="Crop scale/centre jitter of large-yaw images (mimics alignment drift; labels stay exact).",
)
@click.option(
    "--supersample",
    default=1,
    show_default=True,
    type=click.IntRange(1, 4),
    help="Anti-aliasing: render SxS rays per pixel.",
)
@click.option(
    "--batch-size", default=None, type=click.IntRange(1), help="Images per batch (default: 256 on CUDA, 16 on the CPU)."
)
@click.option(
    "--gpus",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="With --device cuda: render on this many GPUs, batches in turn (same images as on one).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@device_option
@user_errors
def synth(
    out, count, resolution, seed, yaw_mode, pitch_range, jitter, supersample, batch_size, gpus, overwrite, device
):
    """Render procedural 360-degree heads with exact camera labels and masks."""
    from panohead.data.synth import SynthSettings, write_synthetic_dataset
    from panohead.data.writer import mask_target

    settings = SynthSettings(
        resolution, yaw_mode, tuple(parse_numbers(pitch_range, "--pitch-range", count=2)), jitter, supersample
    )
    target = pick_device(device)
    if gpus > 1 and (target.type != "cuda" or gpus > torch.cuda.device_count()):
        raise click.UsageError(
            f"--gpus {gpus} needs --device cuda and {gpus} visible GPUs "
            f"({torch.cuda.device_count() if torch.cuda.is_available() else 0} here)"
        )
    targets = [torch.device("cuda", index) for index in range(gpus)] if gpus > 1 else [target]
    batch_size = batch_size or (256 if target.type == "cuda" else 16)
    start = time.perf_counter()
    with tqdm(total=count, unit="img", desc="synth") as bar:
        path = write_synthetic_dataset(out, count, seed, settings, targets, batch_size, overwrite, bar.update)
    elapsed = time.perf_counter() - start
    where = f"{gpus} GPUs" if gpus > 1 else target.type
    click.echo(
        f"wrote {count} images to {path} and masks to {mask_target(path)} ({count / elapsed:.1f} images/s on {where})"
    )


@dataset.command()
@click.argument("path", type=click.Path())
@click.option(
    "--masks", default=None, type=click.Path(), help="Mask folder/zip (default: <PATH>_masks or <stem>_masks.zip)."
)
@click.option("--full", is_flag=True, help="Decode every image and mask (finds truncated files; slower).")
@click.option(
    "--bins", default=12, show_default=True, type=click.IntRange(1, 360), help="Yaw histogram bins over 360 degrees."
)
@user_errors
def check(path, masks, full, bins):
    """Validate a dataset and print a summary (count, resolution, yaw histogram)."""
    from panohead.camera import label_to_orbit
    from panohead.data.dataset import HeadDataset

    data = HeadDataset(path, masks)
    if full:
        data.verify()
    orbit = label_to_orbit(data.labels)
    yaws = torch.rad2deg(orbit.yaw)
    pitches = torch.rad2deg(orbit.pitch)
    click.echo(
        f"{path}: {data.num_images} images, {data.native_resolution}x{data.native_resolution}, masks {data.masks.path}"
    )
    click.echo(
        f"pitch {pitches.min():.1f}..{pitches.max():.1f} deg, camera radius {orbit.radius.mean():.3f}, "
        f"focal {orbit.focal.mean():.4f}" + (", all files decoded" if full else "")
    )
    counts = torch.histc(yaws, bins=bins, min=-180.0, max=180.0).long().tolist()
    width = 360.0 / bins
    peak = max(counts) or 1
    click.echo("yaw histogram (0 = front, +-180 = back):")
    for index, number in enumerate(counts):
        low = -180.0 + index * width
        click.echo(f"  {low:+7.1f}..{low + width:+7.1f}  {number:6d}  {'#' * math.ceil(40 * number / peak)}")


@dataset.command()
@click.argument("photos", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(), help="Output dataset folder, or a .zip path.")
@click.option(
    "--resolution", "-r", default=512, show_default=True, type=click.IntRange(16, 4096), help="Crop size in pixels."
)
@click.option(
    "--overrides",
    default=None,
    type=click.Path(dir_okay=False),
    help='JSON {"photo.jpg": [yaw, pitch], ...} in degrees, for images the estimators get wrong.',
)
@click.option(
    "--report",
    "report_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the per-image report to this file.",
)
@click.option(
    "--contact-sheet",
    "sheet_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write a PNG with one tile per photo (crop, mask, estimated yaw/pitch, or why it was skipped).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@user_errors
def align(photos, out, resolution, overrides, report_path, sheet_path, overwrite):
    """Two-stage alignment of a folder of photos into a dataset (crops, camera labels, masks).

    Prints one line per photo: yaw, pitch and crop size, the stage and how the camera was found, or why
    the photo was skipped.
    """
    from panohead.atomic import write_bytes_atomic
    from panohead.data.align import align_folder, read_overrides
    from panohead.data.contact_sheet import ContactSheet

    manual = read_overrides(overrides) if overrides else None
    sheet = ContactSheet() if sheet_path else None
    with tqdm(unit="img", desc="align") as bar:
        report = align_folder(photos, out, resolution, manual, overwrite, progress=bar.update, sheet=sheet)
    if sheet is not None:
        sheet.save(sheet_path)
        click.echo(f"contact sheet: {sheet_path}")
    for line in report.lines:
        click.echo(line)
    if report.aligned:
        click.echo(
            f"aligned {report.aligned} images (stage 1: {report.stage_counts[1]}, stage 2: {report.stage_counts[2]}), "
            f"skipped {report.skipped}; wrote {out}"
        )
    if report_path:
        write_bytes_atomic(report_path, ("\n".join(report.lines) + "\n").encode())
    if not report.aligned:
        raise click.ClickException(
            f"{photos}: none of the {report.skipped} image(s) could be aligned; nothing written (see the SKIPPED lines)"
        )
    if report.skipped:
        raise click.ClickException(f"{report.skipped} image(s) could not be aligned (see the SKIPPED lines above)")
