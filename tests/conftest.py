"""Shared fixtures: tiny generators that build in milliseconds on a CPU; every test's user folders in a
temporary folder; and a guard that fails the run if the tests left anything in the source tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from panohead.config import preset
from panohead.generator import PanoHeadGenerator
from panohead.userdirs import CACHE_ENV, CONFIG_ENV, OUTPUT_ENV

REPO = Path(__file__).resolve().parents[1]
# Allowed to appear in the repository root: pytest's own cache and screenshots of failed GUI tests (both git-ignored).
TOOL_FOLDERS = {".pytest_cache", "test-artifacts"}


def _tree_state() -> tuple[set[str], set[str]]:
    """Entries of the repository root, and git's untracked/modified files (empty without git)."""
    entries = set(os.listdir(REPO)) - TOOL_FOLDERS
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        status = ""
    return entries, set(status.splitlines())


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE] = _tree_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests write only to temporary folders: anything new in the source tree fails the run."""
    before = session.config.stash.get(_TREE, None)
    if before is None:
        return
    after = _tree_state()
    added = sorted(after[0] - before[0]) + sorted(after[1] - before[1])
    if added:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"\nFAILED: the tests left files in the source tree {REPO}: {', '.join(added)}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE = pytest.StashKey[tuple[set[str], set[str]]]()


@pytest.fixture(autouse=True)
def _user_folders_in_tmp(tmp_path_factory, monkeypatch):
    """Settings, caches and default outputs go to a fresh temporary folder, never the user's home or this tree."""
    base = tmp_path_factory.mktemp("user-folders")
    for variable, name in ((CONFIG_ENV, "config"), (CACHE_ENV, "cache"), (OUTPUT_ENV, "output")):
        monkeypatch.setenv(variable, str(base / name))


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)


def make_tiny_generator(**overrides) -> PanoHeadGenerator:
    torch.manual_seed(0)
    return PanoHeadGenerator(preset("tiny", **overrides)).eval().requires_grad_(False)


@pytest.fixture
def tiny_generator() -> PanoHeadGenerator:
    return make_tiny_generator()


@pytest.fixture
def single_thread():
    """Run the test with one intra-op thread: the many small ops of rasterising and fitting collapse
    with two threads on a shared machine (see docs/performance.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
