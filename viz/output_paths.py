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


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem_2``, ``stem_3``... if taken."""
    path = folder / f"{stem}{suffix}"
    counter = 2
    while path.exists():
        path = folder / f"{stem}_{counter}{suffix}"
        counter += 1
    return path
