"""Names for files the viewer writes: never overwrite, always inside the chosen folder."""

from __future__ import annotations

from pathlib import Path

from panohead.userdirs import resolve_output


def output_folder(folder: str) -> Path:
    """The capture folder (a relative one under the user's output folder, see
    :func:`panohead.userdirs.resolve_output`), created if needed (OSError with the reason if that fails)."""
    path = resolve_output(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def unique_path(folder: Path, stem: str, suffix: str, companions: tuple[str, ...] = ()) -> Path:
    """``folder/stem.suffix``, or ``stem_2``, ``stem_3``... if taken; with ``companions`` (name
    endings such as ``"_background.ply"``), also free are the files written beside it, named
    ``STEM + companion``."""
    counter, name = 2, stem
    while any((folder / f"{name}{ending}").exists() for ending in (suffix, *companions)):
        name = f"{stem}_{counter}"
        counter += 1
    return folder / f"{name}{suffix}"
