"""``panohead mesh``: coloured meshes of seeds (.ply, .obj or .glb), optionally with the density volume."""
from __future__ import annotations

import click

from panohead.cli.common import (Number, checkpoint_option, device_option, open_generator, output_folder, parse_seeds,
                                 progress_bar, user_errors)
from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import (DEFAULT_THRESHOLD, MESH_FORMATS, SAMPLING_SHARE, mesh_from_density, sample_density,
                                  save_density, save_mesh)
from panohead.export.tasks import stage


@click.command()
@checkpoint_option
@device_option
@click.option("--seeds", "--seed", "seeds", default="0", show_default=True, help="Seed(s), e.g. '7' or '0,5,10-12'.")
@click.option("--psi", "truncation", default=0.7, show_default=True, type=Number(0.0, 2.0), help="Truncation psi.")
@click.option("--resolution", "-r", default=256, show_default=True, type=click.IntRange(8, 1024),
              help="Density grid samples per axis (N^3 points over the tri-grid box).")
@click.option("--format", "file_format", default="ply", show_default=True, type=click.Choice(MESH_FORMATS),
              help="ply and glb keep vertex colours for every viewer; obj writes 'v x y z r g b'.")
@click.option("--threshold", default=DEFAULT_THRESHOLD, show_default=True, type=Number(),
              help="Iso-level of the density softplus(sigma - 1).")
@click.option("--smooth", default=0, show_default=True, type=click.IntRange(0, 100), help="Taubin smoothing iterations.")
@click.option("--all-components", is_flag=True, help="Keep floaters instead of only the largest connected part.")
@click.option("--volume", is_flag=True, help="Also write the raw (N, N, N) density grid as .npy (axes x, y, z).")
@click.option("--outdir", "-o", default="out", show_default=True, help="Output folder.")
@user_errors
def mesh(checkpoint, device, seeds, truncation, resolution, file_format, threshold, smooth, all_components, volume, outdir):
    """Extract coloured head meshes (y up, face towards +z, units of the tri-grid box)."""
    seed_list = parse_seeds(seeds)
    folder = output_folder(outdir)
    generator, _, source = open_generator(checkpoint, device)
    for seed in seed_list:
        field = HeadField(generator, head_from_seed(generator, seed, truncation))
        with progress_bar(f"seed {seed} mesh {resolution}^3") as progress:
            grid = sample_density(field, resolution, progress=stage(progress, 0.0, SAMPLING_SHARE))
            result = mesh_from_density(grid, field, threshold, not all_components, smooth,
                                       progress=stage(progress, SAMPLING_SHARE, 1.0))
        path = folder / f"seed{seed:04d}.{file_format}"
        save_mesh(result, path)
        click.echo(f"wrote {path} ({len(result.vertices)} vertices, {len(result.faces)} faces, model: {source})")
        if volume:
            volume_path = folder / f"seed{seed:04d}_density.npy"
            save_density(grid, volume_path)
            click.echo(f"wrote {volume_path} ({resolution}^3 float32, sample spacing {grid.spacing:.6g} "
                       f"from {grid.lower:g} on each axis)")
