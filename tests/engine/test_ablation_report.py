"""bench/ablation.py measures finished training runs and writes the ablation table (tiny runs on a CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, whatever is installed
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_ablation_table_names_each_variant_with_finite_scores(tmp_path):
    cli = [sys.executable, "-m", "panohead.cli"]
    run(
        *cli,
        "dataset",
        "synth",
        "--out",
        "data",
        "--count",
        "16",
        "--resolution",
        "32",
        "--jitter",
        "0.25",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    run(
        *cli,
        "train",
        "--data",
        "data",
        "--preset",
        "tiny",
        "--outdir",
        "grid",
        "--kimg",
        "0.008",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    run(
        *cli,
        "train",
        "--data",
        "data",
        "--preset",
        "tiny",
        "--outdir",
        "plane",
        "--kimg",
        "0.008",
        "--device",
        "cpu",
        "--grid-depth",
        "1",
        "--no-mask-channel",
        "--no-self-adaptation",
        cwd=tmp_path,
    )
    printed = run(
        sys.executable,
        str(ROOT / "bench" / "ablation.py"),
        "--data",
        "data",
        "--runs",
        "grid",
        "plane",
        "--out",
        "ablation.md",
        "--seeds",
        "2",
        "--mask-samples",
        "4",
        "--timing-steps",
        "1",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    assert "wrote ablation.md" in printed
    rows = [
        line
        for line in (tmp_path / "ablation.md").read_text().splitlines()
        if line.startswith("| grid") or line.startswith("| plane")
    ]
    assert rows[0].startswith("| grid | tri-grid D=3, mask channel, self-adaptation | 0.008 |")
    assert rows[1].startswith("| plane | tri-plane D=1, no mask channel, no self-adaptation | 0.008 |")
    for row in rows:
        mirror, mask, alone, in_run = (cell.strip().removesuffix(" ms") for cell in row.split("|")[4:8])
        assert -1.0 <= float(mirror) <= 1.0 and 0.0 <= float(mask) <= 1.0
        assert float(alone) > 0 and float(in_run) > 0
