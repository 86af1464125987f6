"""The hostile suite's fixture: ``cli(cases)`` runs command lines in one memory-limited child process."""

from __future__ import annotations

import pytest
from hostile_cli import run_cli


@pytest.fixture
def cli(tmp_path):
    return lambda cases: run_cli(cases, tmp_path)
