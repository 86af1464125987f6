"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or a full disk mid-write leaves the previous file (or nothing) in place, never half a file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``target`` only on success."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder}: output folder is not writable")
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial" + target.suffix, dir=folder)
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as temp:
        temp.write_bytes(data)
