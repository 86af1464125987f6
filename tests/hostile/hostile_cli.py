"""Run hostile command lines in a child process under a memory limit (see hostile_runner.py), and the
assertions every hostile case shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("hostile_runner.py")
# Address-space limit of the child: imports take about 0.7 GB of it; a memory bomb that got past the
# loaders fails at this limit instead of swapping the machine.
ADDRESS_LIMIT = 3 * 2**30
# Resident memory a hostile file may add to the process beyond the imports. The largest legitimate
# model these cases could describe is a few MB, so anything near this bound is an unchecked allocation.
RSS_BOUND = 400 * 2**20


def run_cli(cases: list[list[str]], folder: Path) -> list[dict]:
    """Run each argv in one child process; assert the memory bound over all of them; return the results."""
    cases_file, result_file = folder / "cases.json", folder / "result.json"
    cases_file.write_text(json.dumps([[str(a) for a in argv] for argv in cases]))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, str(RUNNER), str(cases_file), str(result_file), str(ADDRESS_LIMIT)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(result_file.read_text())
    cases_file.unlink()
    result_file.unlink()
    grown = report["peak_rss"] - report["baseline_rss"]
    assert grown < RSS_BOUND, f"resident memory grew by {grown / 2**20:.0f} MiB"
    return report["results"]


def assert_refused(result: dict, names: str | Path) -> str:
    """One line on stderr naming ``names``, a non-zero exit, no traceback; returns the line."""
    assert result["traceback"] is None, result["traceback"]
    assert result["status"] != 0, result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1, result["stderr"]
    assert str(names) in lines[0], lines[0]
    assert "Traceback" not in result["stderr"] and "\x1b" not in result["stderr"]
    assert "MemoryError" not in lines[0], "the memory limit fired: something allocated before checking"
    return lines[0]


def assert_no_stray_files(folder: Path, expected: set[str]) -> None:
    """Nothing but ``expected`` (names) in ``folder``: no temp files, no partial outputs."""
    assert {p.name for p in folder.iterdir()} == expected
