"""Options and error handling shared by the sub-commands."""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click
import torch
from tqdm import tqdm

from panohead.devices import DEVICE_CHOICES, pick_device
from panohead.errors import USER_ERRORS, one_line
from panohead.generator import PanoHeadGenerator
from panohead.model_source import ModelSource
from panohead.userdirs import output_root


def user_errors(command):
    """Turn expected failures into one-line ``Error: ...`` messages with exit status 1, not tracebacks."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click.ClickException, BrokenPipeError):  # a reader that left (`| head`): click exits quietly
            raise
        except USER_ERRORS as error:
            raise click.ClickException(one_line(error)) from None

    return wrapper


class Number(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinity (NaN passes every range comparison and
    renders blank images; infinity never ends a loop). With no bounds: any finite number."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def parse_numbers(text: str, option: str, count: int | None = None) -> list[float]:
    """'0,90,180' -> [0.0, 90.0, 180.0], each finite (and exactly ``count`` of them when given)."""
    try:
        numbers = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or not all(map(math.isfinite, numbers)) or (count is not None and len(numbers) != count):
        amount = f"{count} " if count else ""
        raise click.BadParameter(f"{text!r} is not {amount}comma-separated finite numbers", param_hint=option)
    return numbers


MAX_SEEDS = 100_000  # per command: 100k heads is days of rendering, not a typo's 10**11
MAX_SEED = 2**32 - 1


def parse_seeds(text: str) -> list[int]:
    """'1,4,7-9' -> [1, 4, 7, 8, 9]; a descending range such as '5-2' is an error, and so are more
    than :data:`MAX_SEEDS` seeds or a seed above :data:`MAX_SEED` (found before any list is built)."""
    ranges: list[range] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d{1,20})(?:-(\d{1,20}))?", part)
        if not match:
            raise click.BadParameter(f"{part[:40]!r} is not a seed or a range like 3-7", param_hint="--seeds")
        start, stop = int(match.group(1)), int(match.group(2) or match.group(1))
        if stop < start:
            raise click.BadParameter(f"range {part!r} runs backwards (use {stop}-{start})", param_hint="--seeds")
        if stop > MAX_SEED:
            raise click.BadParameter(f"seed {stop} is above the largest seed, {MAX_SEED}", param_hint="--seeds")
        ranges.append(range(start, stop + 1))
    total = sum(map(len, ranges))
    if total > MAX_SEEDS:
        raise click.BadParameter(
            f"{text[:40]!r} names {total} seeds; at most {MAX_SEEDS} per command", param_hint="--seeds"
        )
    return [seed for seeds in ranges for seed in seeds]


def output_option(default_name: str, flag: str = "--outdir"):
    """``flag``/``-o`` into the parameter ``outdir``; without it, files go to ``default_name`` in the
    user's output folder (never the current folder, which may be this source tree)."""
    return click.option(
        flag,
        "-o",
        "outdir",
        default=None,
        help=f"Output folder (default: {default_name} in ~/panohead-studio or $PANOHEAD_STUDIO_OUTPUT_DIR).",
    )


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
    return click.option(
        "--checkpoint",
        "-c",
        "checkpoint",
        type=click.Path(dir_okay=False),
        default=None,
        help="Our .safetensors checkpoint, an official .pkl, 'bundled' or 'random:<preset>' (default: bundled).",
    )(function)


def seeds_option(help: str = "Seed(s), e.g. '7' or '0,5,10-12'.", default: str = "0"):
    """``--seeds`` (or ``--seed``) into the parameter ``seeds``, parsed later by :func:`parse_seeds`."""
    return click.option("--seeds", "--seed", "seeds", default=default, show_default=True, help=help)


def psi_option(default: float = 0.7, help: str = "Truncation psi."):
    """``--psi`` into the parameter ``truncation``: one finite range (0..2) for every command."""
    return click.option("--psi", "truncation", default=default, show_default=True, type=Number(0.0, 2.0), help=help)


def format_option(formats: Sequence[str], default: str | None, help: str | None = None):
    """``--format`` into the parameter ``file_format``: which of ``formats`` the command writes."""
    return click.option(
        "--format",
        "file_format",
        default=default,
        show_default=default is not None,
        type=click.Choice(formats),
        help=help,
    )


def gpus_option(function):
    return click.option(
        "--gpus",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Processes to start on this machine (one per GPU); under torchrun use its --nproc-per-node instead.",
    )(function)


def device_option(function):
    return click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES),
        default="auto",
        show_default=True,
        help="Where to run; auto uses CUDA when present.",
    )(function)


def open_generator(checkpoint: str | None, device: str) -> tuple[PanoHeadGenerator, torch.device, ModelSource]:
    """The generator ``--checkpoint`` names (a path, "bundled" or "random:<preset>"; None: the bundled
    model) on the ``--device`` asked for, with its source."""
    source = ModelSource.parse(checkpoint)
    target = pick_device(device)
    return source.open(target), target, source


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float], None]]:
    """A terminal progress bar driven by the exporters' ``progress(fraction)`` callbacks."""
    with tqdm(total=1.0, desc=description, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:

        def update(fraction: float) -> None:
            bar.update(fraction - bar.n)

        yield update
