"""Options that pick what a video frame shows, shared by ``panohead video`` and ``panohead keyframes``."""

from __future__ import annotations

import click

from panohead.export.video import BACKGROUNDS, VIEWS


def view_options(function):
    """``--view`` (one of the viewer's view modes) and ``--background`` (the model's, or a flat colour)."""
    function = click.option(
        "--background",
        default="generated",
        show_default=True,
        type=click.Choice(BACKGROUNDS),
        help="The model's background, or a flat colour behind the head.",
    )(function)
    return click.option(
        "--view",
        default="image",
        show_default=True,
        type=click.Choice(VIEWS),
        help="The viewer's view modes (image: final; raw: before super-resolution; mask: opacity; depth: near is "
        "bright; density/colour: a slice through the volume; mirror: front vs mirrored back).",
    )(function)
