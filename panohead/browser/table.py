"""The seed browser's table: rank seeds by a score, keep those within limits, flag the worst, save and reload.

"Worst" is relative to the seeds browsed: the highest mirrored-face scores and the lowest
consistency PSNRs. Seeds without a score (NaN) rank last and are never flagged for that score.
Files are written atomically; CSV and JSON hold the same columns in the same (ranked) order.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields
from pathlib import Path
from typing import Literal

from panohead.atomic import write_bytes_atomic
from panohead.browser.scan import SeedScore
from panohead.errors import one_line
from panohead.untrusted import parse_json

SortKey = Literal["mirror", "consistency", "seed"]  # the mirrored-face score, multi-view consistency, or seed
# Sort key -> whether larger values are worse (the worst-first order sorts those first).
SORT_KEYS: dict[SortKey, bool] = {
    "mirror": True,
    "consistency": False,
    "seed": False,
}  # "seed": worst first = ascending
SCORE_COLUMNS = tuple(field.name for field in fields(SeedScore))
COLUMNS = (*SCORE_COLUMNS, "flagged")
WORST_FRACTION = 0.1


def ranked(scores: Iterable[SeedScore], key: SortKey = "mirror", worst_first: bool = True) -> list[SeedScore]:
    """``scores`` ordered by ``key`` (one of SORT_KEYS), worst first or best first; NaN last either way,
    ties by seed."""
    if key not in SORT_KEYS:
        raise ValueError(f"sort key {key!r}: choose one of {', '.join(SORT_KEYS)}")
    descending = SORT_KEYS[key] == worst_first
    value = lambda s: float(getattr(s, key))  # noqa: E731
    numbers = sorted((s for s in scores if not math.isnan(value(s))), key=lambda s: s.seed)
    missing = sorted((s for s in scores if math.isnan(value(s))), key=lambda s: s.seed)
    return sorted(numbers, key=value, reverse=descending) + missing


def worst(scores: Sequence[SeedScore], fraction: float = WORST_FRACTION) -> frozenset[int]:
    """Seeds in the worst ``fraction`` (at least one seed) of the mirrored-face score or of consistency."""
    flagged: set[int] = set()
    for key in ("mirror", "consistency"):
        order = [s for s in ranked(scores, key) if not math.isnan(getattr(s, key))]
        if order:
            flagged.update(s.seed for s in order[: max(1, math.ceil(fraction * len(order)))])
    return frozenset(flagged)


def filtered(
    scores: Iterable[SeedScore], max_mirror: float | None = None, min_consistency: float | None = None
) -> list[SeedScore]:
    """The scores within the limits (None: no limit); a NaN score passes its limit (nothing to hold against it)."""
    kept = []
    for score in scores:
        if max_mirror is not None and score.mirror > max_mirror:
            continue
        if min_consistency is not None and score.consistency < min_consistency:
            continue
        kept.append(score)
    return kept


def _cell(value) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_table(path: str | os.PathLike, scores: Sequence[SeedScore], flagged: frozenset[int] = frozenset()) -> None:
    """Write ``scores`` in their order as CSV or JSON (by the suffix); NaN is an empty cell / null."""
    path = Path(path)
    rows = [[*map(_cell, astuple(score)), score.seed in flagged] for score in scores]
    if path.suffix.lower() == ".csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
        data = text.getvalue()
    elif path.suffix.lower() == ".json":
        data = json.dumps(
            {"columns": list(COLUMNS), "rows": [dict(zip(COLUMNS, row, strict=True)) for row in rows]}, indent=1
        )
    else:
        raise ValueError(f"{path}: unknown table format; use a .csv or .json name")
    write_bytes_atomic(path, data.encode())


def read_table(path: str | os.PathLike) -> tuple[list[SeedScore], frozenset[int]]:
    """Scores (in file order) and flagged seeds from a file written by :func:`write_table`."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:  # NaN literals allowed: a seed without a score is written as NaN
            records = parse_json(path.read_bytes(), finite=False)["rows"]
            if not isinstance(records, list):
                raise TypeError("'rows' is not a list")
        except (ValueError, KeyError, TypeError) as error:
            problem = one_line(error)
            raise ValueError(f"{path}: not a seed table ({problem}); write one with 'panohead browse'") from None
    else:
        with open(path, newline="") as handle:
            records = list(csv.DictReader(handle))
    number = lambda v: float("nan") if v in (None, "") else float(v)  # noqa: E731
    scores, flagged = [], set()
    for record in records:
        try:
            score = SeedScore(int(record["seed"]), *(number(record[name]) for name in SCORE_COLUMNS[1:]))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a seed table ({error}); write one with 'panohead browse'") from None
        scores.append(score)
        if str(record["flagged"]).lower() == "true":
            flagged.add(score.seed)
    return scores, frozenset(flagged)
