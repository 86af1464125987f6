"""``panohead video``: a 360-degree turntable of one or several seeds (a grid per frame) to .mp4 or .gif."""

from __future__ import annotations

import click

from panohead.camera import RADIUS_RANGE
from panohead.cli.common import (
    Number,
    checkpoint_option,
    device_option,
    format_option,
    open_generator,
    output_folder,
    output_option,
    parse_seeds,
    progress_bar,
    psi_option,
    seeds_option,
    user_errors,
)
from panohead.cli.frames import view_options
from panohead.export.heads import head_from_seed
from panohead.export.video import VIDEO_FORMATS, Turntable, export_turntable
from panohead.views.images import AXES


@click.command()
@checkpoint_option
@device_option
@seeds_option("Seeds, e.g. '0-3' (one grid tile each).")
@psi_option()
@click.option(
    "--frames", default=120, show_default=True, type=click.IntRange(1, 3600), help="Frames per 360-degree turn."
)
@click.option("--fps", default=30, show_default=True, type=click.IntRange(1, 120), help="Frames per second.")
@click.option("--pitch", default=0.0, show_default=True, type=Number(-89, 89), help="Camera elevation in degrees.")
@click.option(
    "--radius",
    default=None,
    type=Number(*RADIUS_RANGE),
    help="Camera distance from the origin, 1 to 6 (default: the model's, 2.7).",
)
@click.option(
    "--resolution", default=None, type=int, help="Tile side in pixels, even (default: the view's native size)."
)
@view_options
@click.option(
    "--slice-axis",
    default="z",
    show_default=True,
    type=click.Choice(AXES),
    help="Normal of the slice views.",
)
@click.option(
    "--slice-offset",
    default=0.0,
    show_default=True,
    type=Number(-1, 1),
    help="Where the slice views cut along their axis (world units).",
)
@click.option(
    "--columns", default=None, type=click.IntRange(min=1), help="Tiles per grid row (default: all in one row)."
)
@format_option(VIDEO_FORMATS, "mp4", "Video file type.")
@output_option("out")
@user_errors
def video(
    checkpoint,
    device,
    seeds,
    truncation,
    frames,
    fps,
    pitch,
    radius,
    resolution,
    view,
    slice_axis,
    slice_offset,
    background,
    columns,
    file_format,
    outdir,
):
    """Render a turntable video of seeds (yaw 0 = front, turning towards +x)."""
    seed_list = parse_seeds(seeds)
    turntable = Turntable(frames, pitch, radius, resolution, background, view, fps, columns, slice_axis, slice_offset)
    folder = output_folder(outdir)
    generator, _, source = open_generator(checkpoint, device)
    heads = [head_from_seed(generator, seed, truncation) for seed in seed_list]
    path = folder / f"turntable_seed{seeds.replace(',', '_')}.{file_format}"
    with progress_bar(f"{len(heads)} head(s) x {frames} frames") as progress:
        export_turntable(generator, heads, path, turntable, progress)
    click.echo(f"wrote {path} ({frames} frames at {fps} fps, model: {source})")
