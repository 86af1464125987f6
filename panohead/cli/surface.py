"""Options of the commands that extract a surface from the density grid: ``mesh``, ``splat`` and ``invert --mesh``."""

from __future__ import annotations

import click

from panohead.export.mesh import RESOLUTION_RANGE


def grid_resolution_option(default: int, help: str, *names: str):
    """Density grid samples per axis (N^3 points over the tri-grid box), one range for every command:
    ``--resolution``/``-r`` unless ``names`` are given; each command keeps its default and help."""
    return click.option(
        *(names or ("--resolution", "-r")),
        default=default,
        show_default=True,
        type=click.IntRange(*RESOLUTION_RANGE),
        help=help,
    )
