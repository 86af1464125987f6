"""Reading data a stranger may have made: sizes capped before reading, nesting bounded, cycles refused.

Every reader of JSON (sessions, ``dataset.json``, alignment overrides, checkpoint headers) goes
through :func:`parse_json`, and every reader of files whose size it cannot trust through
:func:`read_capped`, so no file costs more memory than its cap, and no nesting reaches recursive
code (ours, ``json``, ``repr``) deep enough to raise ``RecursionError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import IO, Any

from panohead.errors import UserError

MAX_DEPTH = 64  # of JSON documents; ours nest at most 6 levels


class UntrustedDataError(UserError):
    """The data is too large, too deeply nested, cyclic or malformed; one line, without the file name
    (the caller's own error names the file)."""


def read_capped(stream: IO[bytes], limit: int, what: str = "the data") -> bytes:
    """At most ``limit`` bytes of ``stream`` (a file, or a zip member that inflates as it is read);
    more is an error, found after reading ``limit + 1`` bytes whatever size a header announced."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UntrustedDataError(f"{what} is larger than {_size(limit)} (the limit for such a file)")
    return data


def read_file_capped(path: str | os.PathLike, limit: int, what: str = "the file") -> bytes:
    with open(path, "rb") as handle:
        return read_capped(handle, limit, what)


def check_nesting(root: Any, children: Callable[[Any], Iterable[Any] | None], max_depth: int) -> None:
    """Refuse a cycle (an object that contains itself) or nesting deeper than ``max_depth``.

    ``children(value)`` lists what a container holds (None for leaves). Iterative, so it runs before
    any recursive code meets the data; objects shared by several parents are fine.
    """
    on_path: set[int] = set()
    finished: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            finished.add(id(node))
            continue
        held = children(node)
        if held is None or id(node) in finished:
            continue
        if id(node) in on_path:
            raise UntrustedDataError("it holds a cycle (an object that contains itself)")
        if depth >= max_depth:
            raise UntrustedDataError(f"it nests deeper than {max_depth} levels")
        on_path.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in held)


def _json_children(value: Any) -> Iterable[Any] | None:
    if isinstance(value, dict):
        return value.values()
    return value if isinstance(value, list) else None


def parse_json(data: bytes | str, max_depth: int = MAX_DEPTH, finite: bool = True) -> Any:
    """A JSON document (UTF-8 bytes or text) nested at most ``max_depth`` levels; with ``finite``,
    NaN and Infinity literals (which Python's ``json`` accepts) are refused. Readers that validate
    every number themselves, field by field, pass ``finite=False``."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        document = json.loads(text, parse_constant=_refuse_constant) if finite else json.loads(text)
    except UnicodeDecodeError:
        raise UntrustedDataError("not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise UntrustedDataError(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise UntrustedDataError(f"it nests deeper than {max_depth} levels") from None
    check_nesting(document, _json_children, max_depth)
    return document


def _refuse_constant(name: str) -> Any:
    raise UntrustedDataError(f"it holds {name}, which is not a finite number")


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"
