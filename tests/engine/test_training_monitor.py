"""What the training panel reads and runs, without a window: the incremental log reader and the launch commands."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from panohead.data.synth import SynthSettings, write_synthetic_dataset
from panohead.training.launcher import (
    LaunchSpec,
    check_launch,
    launch_command,
    masks_in_use,
    recorded_masks,
    resume_arguments,
    train_arguments,
)
from panohead.training.monitor import RunMonitor, tail_lines


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> Path:
    """Two 16x16 synthetic heads with their default ``heads_masks`` folder beside them."""
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("data") / "heads",
        2,
        seed=0,
        settings=SynthSettings(resolution=16),
        device="cpu",
        batch_size=2,
    )


def record(event: str, **fields) -> bytes:
    return (json.dumps({"event": event, "time": 1000.0, **fields}) + "\n").encode()


def test_monitor_reads_only_complete_lines_and_continues_where_it_stopped(tmp_path):
    log = tmp_path / "log.jsonl"
    tick = record("tick", nimg=4, loss_G=0.5, loss_D=1.5, r1_image=0.01, camera_offset=0.0, images_per_s=2.0)
    log.write_bytes(record("start", nimg=0, kimg_total=0.016) + tick[:20])
    monitor = RunMonitor(tmp_path)
    assert monitor.poll() and monitor.kimg_total == 0.016 and monitor.last_tick is None  # half a tick: not yet
    with open(log, "ab") as handle:
        handle.write(tick[20:] + record("tick", nimg=8, loss_G=0.7, loss_D=None) + b"not json\n")
    assert monitor.poll() and not monitor.poll()
    curves = monitor.curves()
    assert curves["kimg"].tolist() == [0.004, 0.008] and curves["loss_G"].tolist() == [0.5, 0.7]
    assert math.isnan(curves["loss_D"][1]) and math.isnan(curves["r1_image"][1])  # null and absent are gaps
    assert monitor.nimg == 8 and monitor.bad_lines == 1 and not monitor.finished


def test_a_resumed_session_replaces_the_ticks_after_its_snapshot(tmp_path):
    lines = [
        record("start", nimg=0, kimg_total=0.016),
        record("tick", nimg=4, loss_G=1.0),
        record(
            "snapshot",
            nimg=4,
            path="snapshot-000000004.safetensors",
            grid="grid-000000004.png",
            mask_grid="grid-000000004-mask.png",
        ),
        record("tick", nimg=8, loss_G=2.0),
        record("error", message="RuntimeError: out of memory"),
        record("start", nimg=4, kimg_total=0.016),
        record("tick", nimg=8, loss_G=3.0),
    ]
    (tmp_path / "log.jsonl").write_bytes(b"".join(lines))
    monitor = RunMonitor(tmp_path)
    monitor.poll()
    assert monitor.curves()["loss_G"].tolist() == [1.0, 3.0]
    assert monitor.error is None and monitor.snapshot.path == tmp_path / "snapshot-000000004.safetensors"


def test_monitor_reads_a_long_log_in_bounded_pieces(tmp_path):
    (tmp_path / "log.jsonl").write_bytes(b"".join(record("tick", nimg=4 * i, loss_G=float(i)) for i in range(1, 1001)))
    monitor = RunMonitor(tmp_path, max_bytes=4096)
    polls = 0
    while monitor.poll():
        polls += 1
    assert len(monitor.curves()["loss_G"]) == 1000 and polls > 10


def test_tail_lines_shows_the_latest_progress_bar_state(tmp_path):
    console = tmp_path / "console.log"
    console.write_text("loading\ntrain: 10%\rtrain: 20%\rtrain: 30%\nError: boom\n")
    assert tail_lines(console, lines=2) == ["train: 30%", "Error: boom"]
    assert tail_lines(tmp_path / "missing.log") == []


def test_launch_commands_use_this_python_and_torchrun_for_several_gpus(tmp_path):
    spec = LaunchSpec(
        data=str(tmp_path / "data"), outdir=str(tmp_path / "run"), preset="tiny", kimg=1.0, gpus=0, resume="auto"
    )
    args = train_arguments(spec)
    assert args == [
        "train",
        "--data",
        str(tmp_path / "data"),
        "--outdir",
        str(tmp_path / "run"),
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--kimg",
        "1",
        "--resume",
        "auto",
    ]
    assert launch_command(args, 1) == [sys.executable, "-m", "panohead.cli", *args]
    assert launch_command(args, 4)[:5] == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=4",
    ]


def test_resume_reuses_the_recorded_command_with_resume_auto(tmp_path):
    command = "panohead train --data /d --masks /d_cut --outdir /r --preset tiny --finetune /m.pkl --kimg 2"
    (tmp_path / "options.json").write_text(json.dumps({"command": command, "world_size": 2}))
    assert resume_arguments(tmp_path) == (
        [
            "train",
            "--data",
            "/d",
            "--masks",
            "/d_cut",
            "--outdir",
            "/r",
            "--preset",
            "tiny",
            "--kimg",
            "2",
            "--resume",
            "auto",
        ],
        2,
    )


def test_launch_checks_refuse_gpus_torch_cannot_see_and_a_fresh_start_over_snapshots(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "snapshot-000000004.safetensors").write_bytes(b"")
    spec = LaunchSpec(data=str(tmp_path), outdir=str(run), preset="tiny", gpus=2)
    assert check_launch(spec, visible_gpus=0) == "2 GPUs asked for but torch sees 0"
    assert check_launch(LaunchSpec(**{**spec.__dict__, "gpus": 0}), 0) == (
        f"{run}: already holds a run's snapshots; continue it (resume) or choose another output folder"
    )
    missing = Path(tmp_path / "none.pkl")
    assert check_launch(LaunchSpec(**{**spec.__dict__, "gpus": 0, "finetune": str(missing)}), 0) == (
        f"{missing}: fine-tune checkpoint not found"
    )


def test_chosen_masks_are_passed_as_an_absolute_path_and_left_out_when_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = LaunchSpec(data="heads", masks="cut/masks.zip", outdir="run", preset="tiny", gpus=0)
    assert train_arguments(spec)[:6] == [
        "train",
        "--data",
        str(tmp_path / "heads"),
        "--masks",
        str(tmp_path / "cut" / "masks.zip"),
        "--outdir",
    ]
    assert "--masks" not in train_arguments(LaunchSpec(**{**spec.__dict__, "masks": None}))


def cli_error(*args: str) -> str:
    """The one-line error ``panohead train`` prints for ``args`` (without its "Error: " prefix)."""
    from panohead.cli import main

    result = CliRunner().invoke(main, ["train", "--preset", "tiny", "--device", "cpu", *args])
    assert result.exit_code == 1 and result.output.startswith("Error: "), result.output
    return result.output.removeprefix("Error: ").rstrip("\n")


def test_launch_checks_reject_missing_or_incomplete_masks_with_the_clis_message(heads, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(heads.with_name("heads_masks"), partial)
    (partial / "img00000001.png").unlink()
    for masks, message in [
        (
            tmp_path / "nowhere",
            f"{tmp_path / 'nowhere'}: mask folder/zip not found (pass the masks explicitly or create it)",
        ),
        (partial, f"{partial / 'img00000001.png'}: missing mask for image 'img00000001.png'"),
    ]:
        spec = LaunchSpec(data=str(heads), masks=str(masks), outdir=str(tmp_path / "run"), preset="tiny", gpus=0)
        assert check_launch(spec, visible_gpus=0) == message
        assert cli_error("--data", str(heads), "--masks", str(masks), "--outdir", str(tmp_path / "cli")) == message
    spec = LaunchSpec(
        data=str(heads), masks=str(heads.with_name("heads_masks")), outdir=str(tmp_path / "run"), preset="tiny", gpus=0
    )
    assert check_launch(spec, visible_gpus=0) is None


def test_empty_masks_mean_the_default_folder_beside_the_dataset_and_none_there_refuses_the_start(heads, tmp_path):
    assert masks_in_use(str(heads), None) == f"masks: {heads}_masks (the default beside the dataset)"
    assert masks_in_use(str(heads), "/elsewhere/m.zip") == "masks: /elsewhere/m.zip"
    bare = tmp_path / "bare"
    shutil.copytree(heads, bare)
    assert masks_in_use(str(bare), None).startswith(
        f"no masks: {tmp_path / 'bare_masks'} does not exist, so the start is refused"
    )
    spec = LaunchSpec(data=str(bare), outdir=str(tmp_path / "run"), preset="tiny", gpus=0)
    assert (
        check_launch(spec, visible_gpus=0)
        == cli_error("--data", str(bare), "--outdir", str(tmp_path / "cli"))
        == (f"{tmp_path / 'bare_masks'}: mask folder/zip not found (pass the masks explicitly or create it)")
    )


def test_a_run_folders_masks_come_from_its_options_json(heads, tmp_path):
    assert recorded_masks(tmp_path) is None
    (tmp_path / "options.json").write_text(json.dumps({"data": str(heads), "masks": None}))
    assert recorded_masks(tmp_path) == f"masks: {heads}_masks (the default beside the dataset)"
    (tmp_path / "options.json").write_text(json.dumps({"data": str(heads), "masks": "/m/heads_masks.zip"}))
    assert recorded_masks(tmp_path) == "masks: /m/heads_masks.zip"


def test_the_default_masks_of_a_root_dot_or_dotdot_dataset_name_the_folder_meant(heads, tmp_path, monkeypatch):
    monkeypatch.chdir(heads)
    assert masks_in_use(".", None) == f"masks: {heads}_masks (the default beside the dataset)"
    monkeypatch.chdir(heads / "..")
    assert masks_in_use(f"{heads.name}/", None) == f"masks: {heads}_masks (the default beside the dataset)"
    root = "no masks: /: the filesystem root is not a dataset (choose the dataset's folder or zip)"
    assert masks_in_use("/", None) == root
    spec = LaunchSpec(data="/", outdir=str(tmp_path / "run"), preset="tiny", gpus=0)
    assert (
        check_launch(spec, visible_gpus=0)
        == "/dataset.json: missing (every dataset needs camera labels in dataset.json)"
    )
    assert masks_in_use("x" * 3000, None) == "no masks: cannot look beside this dataset (File name too long)"


def test_broken_log_lines_are_skipped_with_a_one_line_reason_and_the_good_ones_still_count(tmp_path):
    """Before, a deeply nested line raised RecursionError and a tick whose nimg was text raised ValueError
    out of poll(), taking the panel down; a snapshot path could point outside the run folder."""
    broken = [
        (b"[" * 100_000 + b"\n", "it nests deeper than 64 levels"),
        (b'{"event": "tick", "nimg": "many"}\n', "'nimg' is not a number"),
        (b'{"event": "tick", "nimg": 8, "loss_G": [1]}\n', "'loss_G' is not a number"),
        (b'{"event": "start", "nimg": 0, "kimg_total": true}\n', "'kimg_total' is not a number"),
        (b'{"event": "snapshot", "nimg": 4, "path": "/etc/passwd"}\n', "'path' is not a file name in the run folder"),
        (b'{"event": "snapshot", "nimg": 4}\n', "a snapshot record without its 'path'"),
        (b'{"event": "stop", "reason": {"a": 1}}\n', "'reason' is not text"),
        (b'["event", "tick"]\n', "not a log record"),
        (b'{"event": "tick", "loss_G": NaN}\n', "not a finite number"),
    ]
    good = record("tick", nimg=4, loss_G=0.5, loss_D=None)
    (tmp_path / "log.jsonl").write_bytes(
        record("start", nimg=0, kimg_total=0.016) + b"".join(b for b, _ in broken) + good
    )
    monitor = RunMonitor(tmp_path)
    seen = []
    with open(tmp_path / "log.jsonl", "rb") as handle:  # replay line by line to see each line's reason
        lines = handle.read().split(b"\n")[:-1]
    for line in lines:
        monitor._read(line)
        seen.append(monitor.bad_line)
    for number, (_, reason) in enumerate(broken, start=2):
        assert seen[number - 1].startswith(f"log.jsonl line {number}: ") and reason in seen[number - 1]
        assert "\n" not in seen[number - 1]
    assert monitor.bad_lines == len(broken)
    fresh = RunMonitor(tmp_path)
    assert fresh.poll() and fresh.bad_lines == len(broken) and fresh.nimg == 4 and fresh.kimg_total == 0.016
    assert fresh.curves()["loss_G"].tolist() == [0.5] and fresh.snapshot is None and fresh.stop is None
