"""Names for files the viewer writes: never overwrite, always inside the chosen folder."""
from __future__ import annotations

from pathlib import Path


def output_folder(folder: str) -> Path:
    """The capture folder, created if needed (OSError with the reason if that fails)."""
    path = Path(folder).expanduser()
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
