"""Training on the CPU with the tiny preset: finite losses, exact resume, atomic snapshots, the CLI."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from panohead.checkpoint import load_generator, load_tensors, training_data
from panohead.cli import main
from panohead.training.loop import RunSpec, Trainer, train
from panohead.training.options import training_preset
from panohead.training.snapshot import export_generator, latest_snapshot, read_snapshot
from tiny_heads import write_tiny_dataset

STEP_KIMG = 0.004  # one tiny step (batch 4)


def tiny_spec(data: Path, outdir: Path, steps: int = 2, **changes) -> RunSpec:
    settings = {"kimg": steps * STEP_KIMG, "snap_kimg": STEP_KIMG, "tick_kimg": STEP_KIMG, "keep_snapshots": 0, **changes}
    config, options = training_preset("tiny", **settings)
    return RunSpec(data=str(data), outdir=str(outdir), config=config, options=options, device="cpu")


def ticks(run: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {r["nimg"]: r for r in records if r["event"] == "tick"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory) -> Path:
    """Two steps of tiny training in one go."""
    run = tmp_path_factory.mktemp("uninterrupted")
    train(tiny_spec(dataset, run))
    return run


def test_tiny_training_logs_finite_losses_for_every_step(uninterrupted):
    records = ticks(uninterrupted)
    assert sorted(records) == [4, 8]
    for record in records.values():
        for key in ("loss_G", "loss_D", "camera_offset", "scores_real", "scores_fake"):
            assert record[key] is not None and math.isfinite(record[key]), (key, record)
    assert records[4]["r1_image"] > 0 and records[4]["r1_mask"] > 0  # lazy R1 runs at step 0
    assert "r1_image" not in records[8]  # ... and not again until step 16
    assert records[4]["camera_offset"] == 0.0  # self-adaptation starts from zero offsets
    assert records[8]["camera_offset"] > 0.0


def test_tiny_training_writes_snapshots_grids_and_log_the_panel_reads(uninterrupted):
    names = {p.name for p in uninterrupted.iterdir()}
    for nimg in (4, 8):
        assert {f"snapshot-{nimg:09d}.safetensors", f"grid-{nimg:09d}.png", f"grid-{nimg:09d}-mask.png"} <= names
    assert {"options.json", "reals.png", "log.jsonl"} <= names
    events = [json.loads(line)["event"] for line in (uninterrupted / "log.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "stop"
    generator = load_generator(uninterrupted / "snapshot-000000008.safetensors")  # the G_ema of a snapshot
    assert generator.config.image_resolution == 32


def test_the_training_record_says_synthetic_data_from_dataset_to_snapshot_to_exported_checkpoint(uninterrupted, tmp_path):
    snapshot = uninterrupted / "snapshot-000000008.safetensors"
    assert read_snapshot(snapshot).training_data == "synthetic" == training_data(snapshot)
    export_generator(snapshot, tmp_path / "exported.safetensors")
    assert training_data(tmp_path / "exported.safetensors") == "synthetic"  # what the Invert panel reads


def test_run_stopped_by_sigterm_and_resumed_matches_the_uninterrupted_run(dataset, uninterrupted, tmp_path):
    def stop_after_one_step(trainer: Trainer) -> None:
        if trainer.progress.nimg == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    train(tiny_spec(dataset, tmp_path, snap_kimg=1.0), after_step=stop_after_one_step)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[-1] == {**records[-1], "event": "stop", "reason": "SIGTERM", "nimg": 4}
    assert latest_snapshot(tmp_path).name == "snapshot-000000004.safetensors"  # written because of the signal

    train(RunSpec(**{**tiny_spec(dataset, tmp_path).__dict__, "resume": "auto"}))
    for key in ("loss_G", "loss_D", "camera_offset", "scores_real", "scores_fake"):
        assert ticks(tmp_path)[8][key] == ticks(uninterrupted)[8][key], key
    resumed, _ = load_tensors(tmp_path / "snapshot-000000008.safetensors", "snapshot")
    reference, _ = load_tensors(uninterrupted / "snapshot-000000008.safetensors", "snapshot")
    assert resumed.keys() == reference.keys()
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), name


def test_failed_snapshot_write_leaves_the_previous_snapshot_intact_and_no_partial_file(dataset, tmp_path, monkeypatch):
    trainer = Trainer(tiny_spec(dataset, tmp_path))
    trainer.write_run_files()
    trainer.save_snapshot()
    before = (tmp_path / "snapshot-000000000.safetensors").read_bytes()

    def write_half_then_fail(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", write_half_then_fail)
    trainer.G.synthesis.blocks["4"].const.data += 1.0  # a different state to (fail to) write
    with pytest.raises(OSError):
        trainer.save_snapshot()
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.glob("*snapshot*")) == ["snapshot-000000000.safetensors"]
    assert (tmp_path / "snapshot-000000000.safetensors").read_bytes() == before
    read_snapshot(tmp_path / "snapshot-000000000.safetensors")  # checksum and metadata still valid


def test_leftover_partial_from_a_killed_write_is_removed_and_never_resumed_from(dataset, tmp_path):
    trainer = Trainer(tiny_spec(dataset, tmp_path))
    trainer.write_run_files()
    trainer.save_snapshot()
    stale = tmp_path / ".snapshot-000000004.safetensors.k3j2.partial.safetensors"
    stale.write_bytes(b"half a snapshot")
    assert latest_snapshot(tmp_path).name == "snapshot-000000000.safetensors"
    Trainer(tiny_spec(dataset, tmp_path)).write_run_files()
    assert not stale.exists()


def test_resume_with_another_architecture_is_refused_with_one_line(dataset, uninterrupted, tmp_path):
    shutil.copy(uninterrupted / "snapshot-000000004.safetensors", tmp_path)
    config, options = training_preset("tiny", generator={"grid_depth": 1})
    spec = RunSpec(data=str(dataset), outdir=str(tmp_path), config=config, options=options, device="cpu", resume="auto")
    with pytest.raises(ValueError, match=r"different generator \(grid_depth differ\)"):
        Trainer(spec)


def test_cli_trains_resumes_and_exports_a_half_precision_generator(dataset, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(dataset), "--preset", "tiny", "--outdir", str(run), "--kimg", "0.004",
            "--snap-kimg", "0.004", "--device", "cpu", "--resume", "auto"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "snapshot-000000004.safetensors" in result.output
    result = CliRunner().invoke(main, args)  # already complete: resumes and stops at once
    assert result.exit_code == 0, result.output
    exported = tmp_path / "G.safetensors"
    result = CliRunner().invoke(main, ["train", "export", str(run / "snapshot-000000004.safetensors"), str(exported)])
    assert result.exit_code == 0, result.output
    generator = load_generator(exported)
    assert load_tensors(exported, "generator")[0]["synthesis.blocks.4.const"].dtype == torch.float16
    assert generator.config.grid_depth == 3


def test_cli_names_a_missing_dataset_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "nothing"), "--preset", "tiny",
                                       "--outdir", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 1
    assert str(tmp_path / "nothing") in result.output and len(result.output.strip().splitlines()) == 1


def test_fused_and_plain_layers_train_to_the_same_losses_and_weights(dataset, tmp_path):
    """TrainOptions.fused_layers changes memory, not training: the same step with either gives the
    same losses (R1 included: step 0 runs it) and generator weights, up to float32 rounding."""
    results = []
    for fused in (False, True):
        trainer = Trainer(tiny_spec(dataset, tmp_path / str(fused), fused_layers=fused))
        batches = trainer.data_iterator(workers=0)
        for _ in range(2):
            trainer.step(next(batches))
        stats = {key: torch.stack(values).mean() for key, values in trainer.stats.items()}
        results.append((stats, trainer.G.state_dict()))
    (plain_stats, plain_weights), (fused_stats, fused_weights) = results
    assert {"loss_G", "loss_D", "r1_image", "r1_mask"} <= plain_stats.keys() == fused_stats.keys()
    for key, value in plain_stats.items():
        torch.testing.assert_close(fused_stats[key], value, rtol=1e-4, atol=1e-6, msg=key)
    for name, value in plain_weights.items():
        torch.testing.assert_close(fused_weights[name], value, rtol=1e-4, atol=1e-6, msg=name)
