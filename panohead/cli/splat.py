"""``panohead splat``: 3D Gaussian splats of seeds (.ply in the 3DGS layout), fitted to the generator's images."""

from __future__ import annotations

import click

from panohead.cli.common import (
    checkpoint_option,
    device_option,
    open_generator,
    output_folder,
    output_option,
    parse_seeds,
    progress_bar,
    psi_option,
    seeds_option,
    user_errors,
)
from panohead.cli.surface import grid_resolution_option
from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import extract_mesh
from panohead.export.splat import SplatSettings, background_path, save_splat, splat_background, splat_head
from panohead.export.tasks import stage

# Share of the progress bar taken by the surface the Gaussians start on; the fit takes the rest.
SURFACE_SHARE = 0.1


@click.command()
@checkpoint_option
@device_option
@seeds_option()
@psi_option()
@click.option(
    "--gaussians",
    "count",
    default=SplatSettings.count,
    show_default=True,
    type=click.IntRange(100, 2_000_000),
    help="Gaussians, seeded evenly over the head's surface.",
)
@click.option(
    "--steps",
    default=SplatSettings.steps,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="Optimisation steps (one of 24 views each) against the final images.",
)
@grid_resolution_option(128, "Density grid samples per axis for the surface the Gaussians start on.")
@click.option(
    "--background",
    "background",
    type=click.IntRange(100, 2_000_000),
    default=None,
    help="Also fit this many Gaussians to the model's background, written as a second set (_background.ply).",
)
@output_option("out")
@user_errors
def splat(checkpoint, device, seeds, truncation, count, steps, resolution, background, outdir):
    """Fit 3D Gaussian splats to heads (3DGS .ply; y up, face towards +z, units of the tri-grid box).

    With --background, SEED_splat_background.ply holds a backdrop (Gaussians on a sphere around the
    cameras' orbit) fitted behind the head; open both files together to see the whole picture."""
    settings = SplatSettings(count=count, steps=steps, background=background or 0)
    seed_list = parse_seeds(seeds)
    folder = output_folder(outdir)
    generator, _, source = open_generator(checkpoint, device)
    for seed in seed_list:
        head = head_from_seed(generator, seed, truncation)
        field = HeadField(generator, head)
        with progress_bar(f"seed {seed} splat {count} Gaussians") as progress:
            surface = extract_mesh(field, resolution, progress=stage(progress, 0.0, SURFACE_SHARE))
            gaussians = splat_head(generator, head, surface, field, settings, stage(progress, SURFACE_SHARE, 1.0))
        path = folder / f"seed{seed:04d}_splat.ply"
        save_splat(gaussians, path)
        click.echo(f"wrote {path} ({len(gaussians)} Gaussians, model: {source})")
        if settings.background:
            with progress_bar(f"seed {seed} background {settings.background} Gaussians") as progress:
                backdrop = splat_background(generator, head, gaussians, settings, progress)
            save_splat(backdrop, background_path(path))
            click.echo(f"wrote {background_path(path)} ({len(backdrop)} Gaussians of the background)")
