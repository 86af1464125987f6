"""``panohead keyframes``: render a saved editing session's keyframe path to .mp4 or .gif."""

from __future__ import annotations

from pathlib import Path

import click

from panohead.cli.common import device_option, progress_bar, user_errors
from panohead.cli.frames import view_options
from panohead.devices import pick_device
from panohead.export.video import VIDEO_FORMATS, Turntable


@click.command()
@click.argument("session_file", type=click.Path(dir_okay=False))
@device_option
@click.option("--output", "-o", default=None, help="Video file, .mp4 or .gif (default: the session's name with .mp4).")
@click.option(
    "--resolution", default=None, type=int, help="Frame side in pixels, even (default: the view's native size)."
)
@view_options
@user_errors
def keyframes(session_file, device, output, resolution, view, background):
    """Export the keyframe path of SESSION_FILE (saved by the app) as a video."""
    from panohead.editing.keyframes import frame_count
    from panohead.editing.path_video import export_path
    from panohead.editing.session import open_session

    output = Path(output) if output else Path(session_file).with_suffix(".mp4")
    if output.suffix.lower().lstrip(".") not in VIDEO_FORMATS:
        raise click.BadParameter(f"{output}: use a .mp4 or .gif file name", param_hint="--output")
    options = Turntable(resolution=resolution, view=view, background=background)
    session, generator = open_session(session_file, pick_device(device))
    frames = list(session.keyframes)
    with progress_bar(f"{len(frames)} keyframes") as progress:
        export_path(generator, frames, output, session.path, options, progress)
    count = frame_count(frames, session.path)
    click.echo(f"wrote {output} ({count} frames at {session.path.fps} fps, model: {session.model.source})")
