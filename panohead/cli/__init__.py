"""The ``panohead`` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import importlib
import sys

import click

from panohead.errors import printable

# Sub-command name -> module under panohead.cli defining a click command of the same name. Imported on
# first use, so `panohead train` never loads mesh or video code (nor their optional dependencies).
SUBCOMMANDS = {
    "generate": "generate",
    "keyframes": "keyframes",
    "mesh": "mesh",
    "splat": "splat",
    "video": "video",
    "dataset": "dataset",
    "train": "train",
    "convert": "convert",
    "metrics": "metrics",
    "invert": "invert",
    "train-encoder": "train_encoder",
    "browse": "browse",
}


class OneLineErrors(click.Group):
    """Lazily loaded sub-commands; every usage or user error printed as one ``Error: ...`` line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module = importlib.import_module(f"panohead.cli.{SUBCOMMANDS[name]}")
        return getattr(module, name.replace("-", "_"))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            status = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            message = error.format_message().splitlines() or [type(error).__name__]
            click.echo(f"Error: {printable(message[0])}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)  # ctx.exit(code) arrives here as the return value


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PanoHead Studio: generate, inspect, export and train 360-degree heads."""
