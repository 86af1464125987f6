"""Metric results as JSON lines: one self-describing record per metric group, appended as a whole line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def finite_or_none(value):
    """JSON has no NaN/inf: undefined numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def append_record(path: str | os.PathLike, record: dict) -> None:
    """Append ``record`` as one line with a single write on an O_APPEND descriptor, then fsync.

    Concurrent writers never interleave inside a line and a crash leaves at most the last line
    missing, never half of one; earlier lines are never rewritten.
    """
    line = (json.dumps(finite_or_none(record), sort_keys=False) + "\n").encode()
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}: output folder for --out does not exist")
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"{target}: short write ({written} of {len(line)} bytes); the disk may be full")
        os.fsync(fd)
    finally:
        os.close(fd)
