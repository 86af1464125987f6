"""Does the loss curve jump where one GPU lease resumed from the previous lease's compact snapshot?

    python bench/lease_curve.py checkpoints/training/lease-*.jsonl     # the run's log.jsonl of each lease, in order

Prints a Markdown table for checkpoints/README.md: for every resume, the step in each loss across the
boundary (last tick of one lease to the first tick of the next) beside the typical step between
consecutive ticks inside the leases (the median absolute change). GAN losses are noisy, so "no jump"
means the boundary's step is of the size of the ordinary ones.
"""

from __future__ import annotations

import json
import statistics
import sys
from itertools import pairwise
from pathlib import Path

KEYS = ("loss_G", "loss_D", "scores_real", "scores_fake")


def ticks(path: Path) -> list[dict]:
    """The tick records of one lease's log.jsonl, in order."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["event"] == "tick"]


def boundary_table(leases: list[list[dict]]) -> str:
    """Markdown rows: per boundary and loss, the step across it and the median step inside the leases."""
    inside = {
        key: [
            abs(b[key] - a[key])
            for lease in leases
            for a, b in pairwise(lease)
            if a.get(key) is not None and b.get(key) is not None
        ]
        for key in KEYS
    }
    typical = {key: statistics.median(steps) if steps else float("nan") for key, steps in inside.items()}
    rows = [
        "| resume at kimg | " + " | ".join(f"{key}: before -> after (step; median step)" for key in KEYS) + " |",
        "| --- |" + " --- |" * len(KEYS),
    ]
    for before, after in pairwise(leases):
        if not before or not after:
            continue
        last, first = before[-1], after[0]
        cells = [
            f"{last[key]:.3f} -> {first[key]:.3f} ({abs(first[key] - last[key]):.3f}; {typical[key]:.3f})"
            if last.get(key) is not None and first.get(key) is not None
            else "-"
            for key in KEYS
        ]
        rows.append(f"| {last['kimg']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(paths: list[str]) -> None:
    if len(paths) < 2:
        sys.exit("usage: python bench/lease_curve.py LEASE1.jsonl LEASE2.jsonl ... (two leases or more, in order)")
    print(boundary_table([ticks(Path(path)) for path in paths]))


if __name__ == "__main__":
    main(sys.argv[1:])
