"""Leftovers and modes of the atomic writer, and the exit status of an interrupted training run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_cli import ROOT

from panohead import atomic
from panohead.atomic import NAME_LIMIT, atomic_path, remove_stale_temps, temp_name, write_bytes_atomic


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "out.json", b"{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == mode


def test_a_name_at_the_file_system_limit_can_be_written(tmp_path):
    target = tmp_path / ("é" * 124 + "x.png")  # 253 bytes: the old temporary name was 22 bytes too long
    assert len(target.name.encode()) == 253
    assert len(temp_name(target).encode()) <= NAME_LIMIT and temp_name(target).endswith(".png")
    write_bytes_atomic(target, b"data")
    assert target.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_temporaries_of_dead_processes_are_removed_by_the_next_write(tmp_path, monkeypatch):
    old = time.time() - 2 * atomic.STALE_SECONDS
    stale = tmp_path / f".grid.png.{dead_pid()}-0123abcd.partial.png"
    stale_folder = tmp_path / f".heads.{dead_pid()}-89abcdef.partial"
    earlier_version = tmp_path / ".model.safetensors.k2j_9x0a.partial.safetensors"
    live = tmp_path / f".video.mp4.{os.getppid()}-0123abcd.partial.mp4"  # its writer still runs
    fresh = tmp_path / f".mesh.ply.{dead_pid()}-0123abcd.partial.ply"  # touched a moment ago
    mine = tmp_path / ".notes.partial"  # not our naming
    stale_folder.mkdir()
    for path in (stale, earlier_version, live, fresh, mine):
        path.write_bytes(b"x")
    for path in (stale, stale_folder, live, mine):
        os.utime(path, (old, old))
    os.utime(earlier_version, (time.time() - 7200,) * 2)
    monkeypatch.setattr(atomic, "_cleaned", set())
    write_bytes_atomic(tmp_path / "out.txt", b"new")
    assert {p.name for p in tmp_path.iterdir()} == {live.name, fresh.name, mine.name, "out.txt"}


def test_an_export_killed_mid_write_leaves_nothing_after_the_next_run(tmp_path, monkeypatch):
    script = (
        "import os, sys; from panohead.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as temp:\n"
        "    temp.write_bytes(b'half'); os.kill(os.getpid(), 9)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "turntable.mp4")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    [left] = list(tmp_path.iterdir())
    assert left.name.startswith(".turntable.mp4.") and left.name.endswith(".partial.mp4")
    os.utime(left, (time.time() - 2 * atomic.STALE_SECONDS,) * 2)
    monkeypatch.setattr(atomic, "_cleaned", set())
    with atomic_path(tmp_path / "turntable.mp4") as temp:
        temp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["turntable.mp4"]


def test_remove_stale_temps_spares_a_folder_it_cannot_read(tmp_path):
    assert remove_stale_temps(tmp_path / "missing") == []


def test_an_interrupted_training_run_writes_its_snapshot_and_exits_130(tmp_path):
    from tiny_heads import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "panohead.cli",
        "train",
        "--data",
        str(data),
        "--outdir",
        str(run),
        "--preset",
        "tiny",
        "--kimg",
        "1000",
        "--tick-kimg",
        "0.004",
        "--snap-kimg",
        "1000",
        "--workers",
        "0",
        "--device",
        "cpu",
    ]
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = run / "log.jsonl"
    deadline = time.monotonic() + 300
    while not (log.is_file() and '"tick"' in log.read_text()):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err[-2000:]
    stop = json.loads(log.read_text().splitlines()[-1])
    assert stop["event"] == "stop" and stop["reason"] == "SIGINT"
    snapshots = sorted(Path(run).glob("snapshot-*.safetensors"))
    assert snapshots and f"last snapshot: {snapshots[-1]}" in out
