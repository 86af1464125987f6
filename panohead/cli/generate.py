"""``panohead generate``: images of seeds at chosen yaw angles, one file each or a grid."""

from __future__ import annotations

import click
import torch
from tqdm import tqdm

from panohead.cli.common import (
    Number,
    checkpoint_option,
    device_option,
    open_generator,
    output_folder,
    output_option,
    parse_numbers,
    parse_seeds,
    psi_option,
    user_errors,
)
from panohead.export.heads import head_from_seed
from panohead.images import image_grid, labelled_grid, save_image, to_uint8
from panohead.views.camera import orbit_camera


@click.command()
@checkpoint_option
@device_option
@click.option("--seeds", default="0-3", show_default=True, help="Seeds, e.g. '0,5,10-12'.")
@click.option("--yaws", default="0,90,180,270", show_default=True, help="Rendering yaw angles in degrees (0 = front).")
@click.option("--pitch", default=0.0, show_default=True, type=Number(-89, 89), help="Camera elevation in degrees.")
@psi_option()
@click.option(
    "--grid/--no-grid", default=True, show_default=True, help="One seeds x yaws grid PNG instead of one file per image."
)
@click.option(
    "--labels/--no-labels",
    default=True,
    show_default=True,
    help="Seed and yaw labels beside the grid's rows and above its columns.",
)
@output_option("out")
@user_errors
def generate(checkpoint, device, seeds, yaws, pitch, truncation, grid, labels, outdir):
    """Render seeds at several yaw angles (conditioned on the frontal camera)."""
    seed_list = parse_seeds(seeds)
    yaw_list = parse_numbers(yaws, "--yaws")
    folder = output_folder(outdir)
    generator, target, source = open_generator(checkpoint, device)
    cfg = generator.config
    images = []
    with torch.no_grad():
        for seed in tqdm(seed_list, desc="seeds", unit="seed"):
            head = head_from_seed(generator, seed, truncation)
            for yaw in yaw_list:
                camera = orbit_camera(yaw, pitch, cfg, device=target)
                image = to_uint8(generator.render(head.planes, head.ws, camera, background=head.background)["image"][0])
                if grid:
                    images.append(image)
                else:
                    save_image(folder / f"seed{seed:04d}_yaw{yaw:+04.0f}.png", image)
    if grid:
        path = folder / "grid.png"
        if labels:
            picture = labelled_grid(
                images, len(yaw_list), [f"seed {seed}" for seed in seed_list], [f"yaw {yaw:g}" for yaw in yaw_list]
            )
        else:
            picture = image_grid(images, columns=len(yaw_list))
        save_image(path, picture)
        click.echo(f"wrote {path} ({len(seed_list)} seeds x {len(yaw_list)} yaws, model: {source})")
    else:
        click.echo(f"wrote {len(images) or len(seed_list) * len(yaw_list)} images to {folder} (model: {source})")
