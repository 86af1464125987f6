"""Numbers from outside (files, command lines, sessions) checked in one place: finite, in range, right type.

NaN passes every comparison check (``nan < 0`` and ``nan > 2`` are both false), so a range check
alone lets it through to render blank images; infinity turns into endless loops or huge buffers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, Literal

Bounds = tuple[float, float]


def number_problem(value: Any, bounds: Bounds | None = None, integer: bool = False) -> str | None:
    """Why ``value`` is not an acceptable number (a finite int/float within inclusive ``bounds``), or None.

    Booleans are not numbers here, and ``integer`` refuses floats (JSON ``2.0`` for a size is an error).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {'a whole number' if integer else 'a number'}, got {value!r}"
    if integer and not isinstance(value, int):
        return f"must be a whole number, got {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        return f"must be within {bounds[0]:g}..{bounds[1]:g}, got {value!r}"
    return None


def _type_problem(value: Any, annotation: str, bounds: Bounds | None) -> str | None:
    """Check one dataclass field against its (string) annotation: int, float, bool, str, optional, tuples."""
    if annotation.endswith(" | None"):
        return None if value is None else _type_problem(value, annotation[: -len(" | None")], bounds)
    if annotation == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if annotation == "str":
        return None if isinstance(value, str) else f"must be text, got {type(value).__name__}"
    if annotation in ("int", "float"):
        return number_problem(value, bounds, integer=annotation == "int")
    if annotation.startswith("tuple["):
        items = [part.strip() for part in annotation[len("tuple[") : -1].split(",")]
        if not isinstance(value, tuple):
            return f"must be a list, got {type(value).__name__}"
        if items[-1] == "...":
            if not 1 <= len(value) <= 16:
                return f"must hold 1 to 16 entries, got {len(value)}"
            items = [items[0]] * len(value)
        elif len(value) != len(items):
            return f"must hold {len(items)} entries, got {len(value)}"
        for item, annotation_item in zip(value, items, strict=True):
            problem = _type_problem(item, annotation_item, bounds)
            if problem:
                return problem
        return None
    raise TypeError(f"no check for annotation {annotation!r}")


def field_problems(instance: Any, limits: dict[str, Bounds]) -> list[str]:
    """``"name problem"`` for every field of a frozen dataclass whose value has the wrong type, is not
    finite, or lies outside ``limits[name]`` (tuple fields: each entry)."""
    problems, choices = [], literal_choices(type(instance))
    for spec in dataclasses.fields(instance):
        value = getattr(instance, spec.name)
        if spec.name in choices:
            allowed = choices[spec.name]
            problem = None if value in allowed else f"must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        else:
            problem = _type_problem(value, str(spec.type), limits.get(spec.name))
        if problem:
            problems.append(f"{spec.name} {problem}")
    return problems


@functools.cache
def literal_choices(cls: type) -> dict[str, tuple[Any, ...]]:
    """Field name -> the values its ``Literal[...]`` type allows (``X | None`` allows None too), for the
    fields of dataclass ``cls`` typed so: the type is the one list of choices."""
    choices = {}
    for name, hint in typing.get_type_hints(cls).items():
        options = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
        literals = [
            value for option in options if typing.get_origin(option) is Literal for value in typing.get_args(option)
        ]
        if literals:
            choices[name] = tuple(literals) + ((None,) if type(None) in options else ())
    return choices
