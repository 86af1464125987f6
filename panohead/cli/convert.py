"""``panohead convert``: an official PanoHead/EG3D snapshot pickle -> our safetensors checkpoint."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from panohead.cli.common import user_errors
from panohead.official import convert_official, summary


@click.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@user_errors
def convert(source, target):
    """Convert an official snapshot SOURCE (.pkl) to our format TARGET (.safetensors).

    The pickle is read without running any of its code. G_ema alone becomes a generator
    checkpoint; a training snapshot keeps G_ema, G and the discriminator (for --finetune).
    """
    if Path(target).suffix != ".safetensors":
        raise click.ClickException(f"{target}: the converted checkpoint must end in .safetensors")
    size = Path(source).stat().st_size if Path(source).is_file() else 0
    with tqdm(
        total=size, unit="B", unit_scale=True, desc=f"reading {Path(source).name}", leave=False, disable=None
    ) as bar:
        snapshot = convert_official(source, target, progress=lambda done, total: bar.update(done - bar.n))
    click.echo(summary(snapshot))
    click.echo(f"wrote {target}")
