"""bench/lease_curve.py: the loss step across a lease boundary beside the ordinary steps inside leases."""

from __future__ import annotations

import json
from pathlib import Path

from bench.lease_curve import boundary_table, ticks


def write_log(path: Path, losses: list[float], start_kimg: float) -> Path:
    lines = [{"event": "start", "nimg": int(start_kimg * 1000)}]
    lines += [
        {
            "event": "tick",
            "kimg": start_kimg + 4 * (i + 1),
            "loss_G": g,
            "loss_D": 1.0,
            "scores_real": 0.5,
            "scores_fake": None,
        }
        for i, g in enumerate(losses)
    ]
    lines.append({"event": "stop", "reason": "time limit"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_boundary_step_is_reported_beside_the_median_step_inside_the_leases(tmp_path):
    first = ticks(write_log(tmp_path / "a.jsonl", [1.0, 1.2, 1.1], 0.0))
    second = ticks(write_log(tmp_path / "b.jsonl", [1.15, 1.45], 12.0))
    assert [t["loss_G"] for t in first] == [1.0, 1.2, 1.1]
    table = boundary_table([first, second]).splitlines()
    assert len(table) == 3  # header, rule, one boundary
    # steps inside: 0.2, 0.1, 0.3 -> median 0.2; across the boundary: 1.1 -> 1.15 = 0.05
    assert table[2].startswith("| 12.0 | 1.100 -> 1.150 (0.050; 0.200) | 1.000 -> 1.000 (0.000; 0.000) |")
    assert table[2].endswith("| - |")  # scores_fake was never finite
