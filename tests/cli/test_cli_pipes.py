"""`panohead ... | head`: a reader that leaves early ends the command quietly, as it does any Unix tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tiny_heads import write_tiny_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    data = write_tiny_dataset(tmp_path, count=4)
    process = subprocess.Popen(
        [sys.executable, "-m", "panohead.cli", "dataset", "check", str(data), "--full", "--bins", "360"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # gone before the command (which imports torch first) writes its ~25 KB, past any buffer
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 1, errors  # click's status for a reader that left
    assert errors == "", errors  # no 'Error: [Errno 32] Broken pipe', no traceback
