"""The ``panohead`` command line: one entry point, one sub-command per job."""
from __future__ import annotations

import click

from panohead.cli.generate import generate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PanoHead Studio: generate, inspect, export and train 360-degree heads."""


main.add_command(generate)
