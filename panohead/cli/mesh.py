"""``panohead mesh``: coloured or UV-textured meshes of seeds (.ply, .obj or .glb), optionally with the density
volume."""

from __future__ import annotations

import click

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
from panohead.cli.surface import grid_resolution_option
from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import (
    DEFAULT_THRESHOLD,
    MESH_FORMATS,
    SAMPLING_SHARE,
    mesh_from_density,
    sample_density,
    save_density,
    save_mesh,
)
from panohead.export.tasks import stage
from panohead.export.texture import (
    TEXTURE_SIZES,
    TEXTURED_FORMATS,
    TextureSettings,
    save_textured_mesh,
    texture_head_mesh,
)

# Share of a textured export's progress taken by the marching cubes; the texture takes the rest.
TEXTURED_MESHING_SHARE = 0.3


@click.command()
@checkpoint_option
@device_option
@seeds_option()
@psi_option()
@grid_resolution_option(256, "Density grid samples per axis (N^3 points over the tri-grid box).")
@format_option(
    MESH_FORMATS,
    None,
    "ply and glb keep vertex colours for every viewer; obj writes 'v x y z r g b'. "
    "With --texture: glb (default) or obj (+ .mtl + .png).  [default: ply, glb with --texture]",
)
@click.option(
    "--threshold",
    default=DEFAULT_THRESHOLD,
    show_default=True,
    type=Number(),
    help="Iso-level of the density softplus(sigma - 1).",
)
@click.option(
    "--smooth", default=0, show_default=True, type=click.IntRange(0, 100), help="Taubin smoothing iterations."
)
@click.option("--all-components", is_flag=True, help="Keep floaters instead of only the largest connected part.")
@click.option("--volume", is_flag=True, help="Also write the raw (N, N, N) density grid as .npy (axes x, y, z).")
@click.option(
    "--texture",
    is_flag=True,
    help="Decimate, UV-unwrap and bake a texture from the final images of 24 views (glb or obj).",
)
@click.option(
    "--faces",
    default=TextureSettings.faces,
    show_default=True,
    type=click.IntRange(100, 1_000_000),
    help="With --texture: the face budget of the decimated mesh.",
)
@click.option(
    "--texture-size",
    default=TextureSettings.size,
    show_default=True,
    type=click.Choice([str(size) for size in TEXTURE_SIZES]),
    help="With --texture: texture side in pixels.",
)
@output_option("out")
@user_errors
def mesh(
    checkpoint,
    device,
    seeds,
    truncation,
    resolution,
    file_format,
    threshold,
    smooth,
    all_components,
    volume,
    texture,
    faces,
    texture_size,
    outdir,
):
    """Extract coloured or textured head meshes (y up, face towards +z, units of the tri-grid box)."""
    file_format = file_format or ("glb" if texture else "ply")
    if texture and file_format not in TEXTURED_FORMATS:
        raise click.BadParameter(f"{file_format} cannot hold a texture; use glb or obj", param_hint="--format")
    settings = TextureSettings(faces, int(texture_size))
    seed_list = parse_seeds(seeds)
    folder = output_folder(outdir)
    generator, _, source = open_generator(checkpoint, device)
    meshing_end = TEXTURED_MESHING_SHARE if texture else 1.0
    for seed in seed_list:
        head = head_from_seed(generator, seed, truncation)
        field = HeadField(generator, head)
        with progress_bar(f"seed {seed} mesh {resolution}^3" + (" textured" if texture else "")) as progress:
            grid = sample_density(field, resolution, progress=stage(progress, 0.0, SAMPLING_SHARE * meshing_end))
            result = mesh_from_density(
                grid,
                field,
                threshold,
                not all_components,
                smooth,
                progress=stage(progress, SAMPLING_SHARE * meshing_end, meshing_end),
            )
            if texture:
                result = texture_head_mesh(generator, head, result, settings, field, stage(progress, meshing_end, 1.0))
        path = folder / f"seed{seed:04d}.{file_format}"
        if texture:
            written = save_textured_mesh(result, path)
        else:
            save_mesh(result, path)
            written = [path]
        extra = f", {' + '.join(p.name for p in written[1:])}" if len(written) > 1 else ""
        click.echo(f"wrote {path}{extra} ({len(result.vertices)} vertices, {len(result.faces)} faces, model: {source})")
        if volume:
            volume_path = folder / f"seed{seed:04d}_density.npy"
            save_density(grid, volume_path)
            click.echo(
                f"wrote {volume_path} ({resolution}^3 float32, sample spacing {grid.spacing:.6g} "
                f"from {grid.lower:g} on each axis)"
            )
