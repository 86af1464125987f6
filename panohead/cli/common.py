"""Options and error handling shared by the sub-commands."""
from __future__ import annotations

import contextlib
import functools
import re
from pathlib import Path
from typing import Callable, Iterator

import click
import torch
from tqdm import tqdm

from panohead.checkpoint import CheckpointError
from panohead.devices import DEVICE_CHOICES, pick_device
from panohead.errors import MissingCapability, one_line
from panohead.userdirs import output_root

USER_ERRORS = (CheckpointError, MissingCapability, ValueError, FileNotFoundError, PermissionError, IsADirectoryError, OSError)


def user_errors(command):
    """Turn expected failures into one-line ``Error: ...`` messages with exit status 1, not tracebacks."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except USER_ERRORS as error:
            raise click.ClickException(one_line(error)) from None
    return wrapper


def parse_seeds(text: str) -> list[int]:
    """'1,4,7-9' -> [1, 4, 7, 8, 9]; a descending range such as '5-2' is an error."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise click.BadParameter(f"{part!r} is not a seed or a range like 3-7", param_hint="--seeds")
        start, stop = int(match.group(1)), int(match.group(2) or match.group(1))
        if stop < start:
            raise click.BadParameter(f"range {part!r} runs backwards (use {stop}-{start})", param_hint="--seeds")
        seeds.extend(range(start, stop + 1))
    return seeds


def output_option(default_name: str, flag: str = "--outdir"):
    """``flag``/``-o`` into the parameter ``outdir``; without it, files go to ``default_name`` in the
    user's output folder (never the current folder, which may be this source tree)."""
    return click.option(flag, "-o", "outdir", default=None,
                        help=f"Output folder (default: {default_name} in ~/panohead-studio or $PANOHEAD_STUDIO_OUTPUT_DIR).")


def output_folder(path: str | None, default_name: str = "out") -> Path:
    """Create ``path`` (None: ``default_name`` under :func:`panohead.userdirs.output_root`) if needed and
    check it is writable."""
    folder = Path(path) if path else output_root() / default_name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"{folder}: cannot create output folder ({error.strerror})") from None
    probe = folder / ".panohead-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        raise click.ClickException(f"{folder}: output folder is not writable") from None
    return folder


def checkpoint_option(function):
    return click.option("--checkpoint", "-c", "checkpoint", type=click.Path(dir_okay=False), default=None,
                        help="Our .safetensors checkpoint or an official .pkl (default: the bundled model).")(function)


def device_option(function):
    return click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
                        help="Where to run; auto uses CUDA when present.")(function)


def open_generator(checkpoint: str | None, device: str) -> tuple[torch.nn.Module, torch.device, str]:
    """Load the requested (or default) generator on the requested device."""
    from panohead.bundled import default_generator
    from panohead.checkpoint import load_generator

    target = pick_device(device)
    if checkpoint is None:
        generator, source = default_generator(target)
    else:
        generator, source = load_generator(checkpoint, target), checkpoint
    return generator, target, source


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float], None]]:
    """A terminal progress bar driven by the exporters' ``progress(fraction)`` callbacks."""
    with tqdm(total=1.0, desc=description, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
        def update(fraction: float) -> None:
            bar.update(fraction - bar.n)
        yield update
