"""PanoHead Studio's interactive visualizer: ``python visualizer.py [--checkpoint PATH] [--device auto|cpu|cuda]``."""

from __future__ import annotations

import sys

from gui_utils.termination import TerminationRequest

# Installed first when run as the app: the imports below take seconds, and a kill meanwhile must still end it
# the way the close button does (gui_utils.termination).
TERMINATION = TerminationRequest() if __name__ == "__main__" else None

import click  # noqa: E402

from panohead.devices import DEVICE_CHOICES  # noqa: E402


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--checkpoint",
    "-c",
    default=None,
    type=click.Path(dir_okay=False),
    help="Our .safetensors checkpoint or an official .pkl (default: the bundled model).",
)
@click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default="auto",
    show_default=True,
    help="Where the generator runs; auto uses CUDA when present.",
)
@click.option("--width", default=None, type=click.IntRange(640, 8192), help="Window width (default: as last time).")
@click.option("--height", default=None, type=click.IntRange(480, 8192), help="Window height (default: as last time).")
def main(checkpoint: str | None, device: str, width: int | None, height: int | None) -> None:
    """Open the visualizer: orbit, inspect and edit generated heads."""
    from gui_utils.window import WindowError
    from viz.app import App

    try:
        app = App(
            checkpoint=checkpoint, device=device, size=(width or 1600, height or 1000) if width or height else None
        )
    except (WindowError, ValueError) as error:
        raise click.ClickException(str(error).splitlines()[0]) from None
    if TERMINATION is not None:
        TERMINATION.attach(app.window)
    try:
        app.run()
    except Exception:
        app.remember = False  # never save settings that may be what took the app down: no crash loop
        raise
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
