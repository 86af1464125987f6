"""The ``panohead`` command line: one entry point, one sub-command per job."""
from __future__ import annotations

import sys

import click

from panohead.cli.dataset import dataset
from panohead.cli.generate import generate
from panohead.cli.keyframes import keyframes
from panohead.cli.mesh import mesh
from panohead.cli.train import train
from panohead.cli.video import video


class OneLineErrors(click.Group):
    """Print every usage or user error as a single ``Error: ...`` line (no usage block) and exit non-zero."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            message = error.format_message().splitlines() or [type(error).__name__]
            click.echo(f"Error: {message[0]}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PanoHead Studio: generate, inspect, export and train 360-degree heads."""


main.add_command(generate)
main.add_command(keyframes)
main.add_command(mesh)
main.add_command(video)
main.add_command(dataset)
main.add_command(train)
