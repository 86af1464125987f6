"""JSON text for files people read: numbers that came from float32 written as typed, not as doubles.

A slider or a tensor hands back float32 values; as Python floats they print with every digit of the
binary value (psi 0.7 became 0.699999988079071 in saved settings). A float that is exactly a float32
is written with the shortest text that reads back to the same float32 (0.7); any other float keeps
its full double precision, so nothing that was computed in float64 (an orbit's yaw) is rounded.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def short_floats(value: Any) -> Any:
    """``value`` with every float32-exact float replaced by its shortest float32 decimal (recursively)."""
    if isinstance(value, float) and np.isfinite(value) and float(np.float32(value)) == value:
        return float(str(np.float32(value)))
    if isinstance(value, dict):
        return {key: short_floats(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [short_floats(item) for item in value]
    return value


def dumps(document: Any, **options: Any) -> str:
    """:func:`json.dumps` of ``document`` after :func:`short_floats`."""
    return json.dumps(short_floats(document), **options)
