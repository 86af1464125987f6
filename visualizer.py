"""PanoHead Studio's interactive visualizer: ``python visualizer.py [--checkpoint PATH] [--device auto|cpu|cuda]``."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

import click

from panohead.devices import DEVICE_CHOICES

if TYPE_CHECKING:
    from viz.app import App


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
    close_on_termination(app)
    try:
        app.run()
    except Exception:
        app.remember = False  # never save settings that may be what took the app down: no crash loop
        raise
    finally:
        app.close()


def close_on_termination(app: App) -> None:
    """SIGTERM (``kill``, a logout) and SIGHUP (the terminal closed) end the app the way its close button
    does, so the settings and the window's layout are saved; Python's default would kill it on the spot.
    The handler only asks: the frame loop waits at most a frame interval for events, then sees the request."""

    def request_close(signum: int, frame: object) -> None:
        app.window.request_close()

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, request_close)


if __name__ == "__main__":
    sys.exit(main())
