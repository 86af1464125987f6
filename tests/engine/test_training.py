"""Training on the CPU with the tiny preset: finite losses, exact resume, atomic snapshots, the CLI, and
compact snapshots (split, reduced precision) that resume close to the uninterrupted run."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tiny_heads import write_tiny_dataset

from panohead.checkpoint import CheckpointError, load_generator, load_tensors, save_tensors, training_data
from panohead.cli import main
from panohead.generator import PanoHeadGenerator
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loop import RunSpec, Trainer, train
from panohead.training.options import training_preset
from panohead.training.snapshot import (
    TrainingProgress,
    compact_snapshot,
    export_generator,
    latest_snapshot,
    read_snapshot,
    write_snapshot,
)

STEP_KIMG = 0.004  # one tiny step (batch 4)


def tiny_spec(data: Path, outdir: Path, steps: int = 2, **changes) -> RunSpec:
    settings = {
        "kimg": steps * STEP_KIMG,
        "snap_kimg": STEP_KIMG,
        "tick_kimg": STEP_KIMG,
        "keep_snapshots": 0,
        **changes,
    }
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


def test_the_log_says_what_the_start_up_spent_time_on(uninterrupted):
    records = [json.loads(line) for line in (uninterrupted / "log.jsonl").read_text().splitlines()]
    events = [r["event"] for r in records]
    assert events.count("startup") == 1 and events.index("start") < events.index("startup") < events.index("stop")
    startup = records[events.index("startup")]
    parts = ("process_group", "dataset", "networks", "resume", "broadcast", "run_files")
    assert all(startup[part] >= 0 for part in parts) and startup["dataset"] > 0 and startup["networks"] > 0
    assert startup["cudnn_benchmark"] is False  # CPU run
    # Two steps, fewer than the lazy-regularisation intervals: both are timed, and they are the whole
    # training time the last tick reports.
    assert len(startup["first_steps"]) == 2
    assert sum(startup["first_steps"]) == pytest.approx(ticks(uninterrupted)[8]["train_seconds"], abs=0.02)


def test_tiny_training_writes_snapshots_grids_and_log_the_panel_reads(uninterrupted):
    names = {p.name for p in uninterrupted.iterdir()}
    for nimg in (4, 8):
        assert {f"snapshot-{nimg:09d}.safetensors", f"grid-{nimg:09d}.png", f"grid-{nimg:09d}-mask.png"} <= names
    assert {"options.json", "reals.png", "log.jsonl"} <= names
    events = [json.loads(line)["event"] for line in (uninterrupted / "log.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "stop"
    generator = load_generator(uninterrupted / "snapshot-000000008.safetensors")  # the G_ema of a snapshot
    assert generator.config.image_resolution == 32


def test_the_training_record_says_synthetic_data_from_dataset_to_snapshot_to_exported_checkpoint(
    uninterrupted, tmp_path
):
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
    args = [
        "train",
        "--data",
        str(dataset),
        "--preset",
        "tiny",
        "--outdir",
        str(run),
        "--kimg",
        "0.004",
        "--snap-kimg",
        "0.004",
        "--device",
        "cpu",
        "--resume",
        "auto",
    ]
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
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tmp_path / "nothing"),
            "--preset",
            "tiny",
            "--outdir",
            str(tmp_path / "run"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 1
    assert str(tmp_path / "nothing") in result.output and len(result.output.strip().splitlines()) == 1


def compact_parts(uninterrupted: Path, folder: Path) -> list[Path]:
    """The 4-image snapshot of the uninterrupted run as a compact one, cut into many small parts."""
    result = CliRunner().invoke(
        main,
        ["train", "compact", str(uninterrupted / "snapshot-000000004.safetensors"), str(folder), "--part-mib", "0.05"],
    )
    assert result.exit_code == 0, result.output
    return sorted(folder.glob("compact-*.safetensors"), key=lambda p: int(p.name.split("part")[1].split("of")[0]))


def test_compact_snapshot_is_split_coded_and_restores_the_state_within_its_bounds(uninterrupted, tmp_path):
    parts = compact_parts(uninterrupted, tmp_path)
    assert len(parts) > 5 and parts[0].name == f"compact-000000004-part1of{len(parts)}.safetensors"
    full, _ = load_tensors(uninterrupted / "snapshot-000000004.safetensors", "snapshot")
    stored = {}
    for part in parts:
        tensors, _ = load_tensors(part, ("compact-snapshot", "compact-snapshot-part"))
        assert sum(t.numel() * t.element_size() for t in tensors.values()) <= 0.05 * 2**20
        stored.update(tensors)
    assert load_tensors(parts[0], "compact-snapshot")[1]["compact_format"] == "2"
    assert {stored[k].dtype for k in stored if k.startswith(("G_ema.", "D."))} <= {torch.float16, torch.int64}
    assert not any(k.startswith("G.") and "@" not in k for k in stored)  # G: its difference from G_ema, coded
    assert {stored[k].dtype for k in stored if k.endswith("@int8")} == {torch.int8}
    assert {stored[k].dtype for k in stored if k.endswith("exp_avg_sq@log8")} == {torch.uint8}
    state = read_snapshot(parts[3])  # any part opens the whole snapshot
    reference = read_snapshot(uninterrupted / "snapshot-000000004.safetensors")
    assert state.progress == reference.progress and state.options == reference.options
    for name, tensor in reference.generator_ema.items():
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        assert torch.equal(state.generator_ema[name], expected), name
    for name, tensor in reference.generator.items():  # within 1/254 of the largest difference from G_ema
        difference = (tensor - reference.generator_ema[name].half().float()).abs().max()
        float32_rounding = tensor.abs().max() * 2**-22  # of the difference and of the sum that restores G
        assert (state.generator[name] - tensor).abs().max() <= difference / 254 * 1.01 + float32_rounding, name
    for name, moment in reference.optimisers["opt_D"].items():
        if name.endswith("exp_avg_sq"):  # sqrt(v), what Adam divides by, within 3%
            restored = state.optimisers["opt_D"][name]
            assert torch.equal(restored > 0, moment > 0), name
            assert torch.allclose(restored.sqrt(), moment.sqrt(), rtol=0.03, atol=0), name


def write_format_1(snapshot: Path, folder: Path) -> Path:
    """The compact snapshot as session 4 wrote it (compact format 1, in one part): every float tensor a plain
    float16 copy, Adam's moments bfloat16 copies, the step counters unchanged, no ``compact_format``."""
    tensors, metadata = load_tensors(snapshot, "snapshot")
    stored = {
        name: (t.bfloat16() if name.startswith("opt_") else t.half())
        if t.is_floating_point() and not name.endswith(".step")
        else t
        for name, t in tensors.items()
    }
    kept = {k: v for k, v in metadata.items() if k not in ("format", "version", "kind", "sha256")}
    folder.mkdir(parents=True)
    head = folder / "compact-000000004-part1of1.safetensors"
    save_tensors(head, stored, "compact-snapshot", {**kept, "compact_id": "session4", "parts": "[]"})
    return head


def test_format_1_parts_still_load_and_recompact_into_format_2(uninterrupted, tmp_path):
    snapshot = uninterrupted / "snapshot-000000004.safetensors"
    old = read_snapshot(write_format_1(snapshot, tmp_path / "format1"))
    reference = read_snapshot(snapshot)
    for name, tensor in reference.generator.items():
        assert torch.equal(old.generator[name], tensor.half().float() if tensor.is_floating_point() else tensor)
    result = CliRunner().invoke(
        main,
        [
            "train",
            "recompact",
            str(tmp_path / "format1" / "compact-000000004-part1of1.safetensors"),
            str(tmp_path / "new"),
        ],
    )
    assert result.exit_code == 0, result.output
    head = tmp_path / "new" / "compact-000000004-part1of1.safetensors"
    assert load_tensors(head, "compact-snapshot")[1]["compact_format"] == "2"
    new = read_snapshot(head)
    assert new.progress == old.progress and new.options == old.options and new.config == old.config
    assert all(torch.equal(new.generator_ema[k], v) for k, v in old.generator_ema.items())
    assert all(torch.equal(new.discriminator[k], v) for k, v in old.discriminator.items())
    for name, tensor in old.generator.items():
        difference, float32_rounding = (tensor - old.generator_ema[name]).abs().max(), tensor.abs().max() * 2**-22
        assert (new.generator[name] - tensor).abs().max() <= difference / 254 * 1.01 + float32_rounding, name
    assert head.stat().st_size < 0.8 * (tmp_path / "format1" / "compact-000000004-part1of1.safetensors").stat().st_size


def two_steps_after_resuming(
    dataset: Path, outdir: Path, resume: Path
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """(G's weights before and after, D's after, the steps' mean losses) of two steps after resuming from ``resume``."""
    spec = tiny_spec(dataset, outdir, steps=4)
    spec.resume = str(resume)
    trainer = Trainer(spec)
    batches = trainer.data_iterator(workers=0)

    def flat(module: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in module.parameters()])

    before = flat(trainer.G)
    for _ in range(2):
        trainer.step(next(batches))
    stats = {key: torch.stack(values).mean().item() for key, values in trainer.stats.items()}
    return before, flat(trainer.G), flat(trainer.D), stats


def test_resuming_from_compact_parts_takes_the_full_snapshots_next_steps_within_tolerance(
    dataset, uninterrupted, tmp_path
):
    """Two steps after resuming at step 1 from format-2 parts: G ends within 5% of the distance the two
    steps moved it from where the full snapshot's resume ends (measured: 2%), D within 1e-3 of its norm
    (2e-4), the steps' losses within 0.5% (0.03%). Format 1's float16 G (the mapping network's weights
    are stored at 100x scale, so float16 rounds them by ~0.03) ended 113% of the steps away."""
    snapshot = uninterrupted / "snapshot-000000004.safetensors"
    start, G_full, D_full, stats_full = two_steps_after_resuming(dataset, tmp_path / "full", snapshot)
    deviations = {}
    heads = {
        2: compact_parts(uninterrupted, tmp_path / "format2")[0],
        1: write_format_1(snapshot, tmp_path / "format1"),
    }
    for version, head in heads.items():
        _, G, D, stats = two_steps_after_resuming(dataset, tmp_path / f"run{version}", head)
        deviations[version] = (G - G_full).norm() / (G_full - start).norm()
        if version == 2:
            assert deviations[2] < 0.05
            assert (D - D_full).norm() < 1e-3 * D_full.norm()
            for key in ("loss_G", "loss_D"):
                assert stats[key] == pytest.approx(stats_full[key], rel=5e-3), key
    assert deviations[2] < deviations[1] / 10


def test_resume_from_a_compact_snapshot_continues_the_loss_curve_within_one_percent(dataset, uninterrupted, tmp_path):
    head = compact_parts(uninterrupted, tmp_path / "compact")[0]
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(dataset),
            "--preset",
            "tiny",
            "--outdir",
            str(run),
            "--kimg",
            "0.008",
            "--tick-kimg",
            "0.004",
            "--snap-kimg",
            "0.004",
            "--keep-snapshots",
            "0",
            "--device",
            "cpu",
            "--resume",
            str(head),
        ],
    )
    assert result.exit_code == 0, result.output
    start = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert start["nimg"] == 4 and start["resumed_from"] == head.name
    startup = next(json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"startup"' in line)
    assert startup["resume"] > 0 and len(startup["first_steps"]) == 1
    resumed, reference = ticks(run)[8], ticks(uninterrupted)[8]
    for key in ("loss_G", "loss_D"):  # only the fp16/bf16 rounding of the state differs: losses within 1%
        assert resumed[key] == pytest.approx(reference[key], rel=1e-2), key
    for key in ("scores_real", "scores_fake", "camera_offset"):  # D logits (scale ~1) and offsets near 0
        assert resumed[key] == pytest.approx(reference[key], abs=5e-3), key
    exported = tmp_path / "G.safetensors"
    result = CliRunner().invoke(main, ["train", "export", str(head), str(exported)])
    assert result.exit_code == 0, result.output
    assert load_generator(exported).config.image_resolution == 32


def test_missing_corrupt_or_foreign_compact_part_is_refused_in_one_line(uninterrupted, tmp_path):
    original = compact_parts(uninterrupted, tmp_path / "original")
    foreign = compact_parts(uninterrupted, tmp_path / "foreign")  # same names, another write

    def damaged(name: str) -> list[Path]:
        shutil.copytree(tmp_path / "original", tmp_path / name)
        return [tmp_path / name / part.name for part in original]

    parts = damaged("mixed")
    shutil.copy(foreign[2], parts[2])
    with pytest.raises(CheckpointError, match=rf"{parts[2].name}: belongs to another compact snapshot"):
        read_snapshot(parts[0])
    parts = damaged("missing")
    parts[2].unlink()
    with pytest.raises(CheckpointError, match=rf"{parts[2].name}: part 3 of {len(parts)} .* is missing") as error:
        read_snapshot(parts[5])
    assert "\n" not in str(error.value)
    parts = damaged("corrupt")
    data = bytearray(parts[3].read_bytes())
    data[-5] ^= 0xFF
    parts[3].write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"{parts[3].name}: checksum mismatch"):
        read_snapshot(parts[0])
    parts = damaged("headless")
    parts[0].unlink()
    result = CliRunner().invoke(main, ["train", "export", str(parts[1]), str(tmp_path / "G.safetensors")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert f"{parts[0].name}: part 1 of the compact snapshot" in result.output


def test_interrupted_compact_write_leaves_no_head_to_resume_from(uninterrupted, tmp_path, monkeypatch):
    import panohead.training.compact as compact

    def fail_on_the_head(path, tensors, kind, metadata):
        if kind == compact.HEAD_KIND:
            raise OSError(28, "No space left on device")
        save_tensors(path, tensors, kind, metadata)

    monkeypatch.setattr(compact, "save_tensors", fail_on_the_head)
    with pytest.raises(OSError):
        compact_snapshot(uninterrupted / "snapshot-000000004.safetensors", tmp_path, part_mib=0.05)
    assert any(tmp_path.iterdir()) and not list(tmp_path.glob("compact-*-part1of*.safetensors"))


def test_medium_preset_compact_snapshot_fits_the_gpu_lease_limits(tmp_path):
    """Parts under 16 MiB, at most 28 MB in all (the repository carries them to the lent GPU, beside the
    bundled models and the encoder), G_ema <= 40 MB."""
    config, options = training_preset("medium")
    G = PanoHeadGenerator(config)
    D = TriDiscriminator(options.discriminator)
    optimisers = {
        name: torch.optim.Adam(module.parameters(), betas=options.betas)
        for name, module in (("opt_G", G), ("opt_D", D))
    }
    for optimiser in optimisers.values():
        for group in optimiser.param_groups:
            for parameter in group["params"]:
                parameter.grad = torch.full_like(parameter, 1e-3)
        optimiser.step()
    write_snapshot(
        tmp_path / "full.safetensors",
        G,
        copy.deepcopy(G),
        D,
        optimisers,
        options,
        TrainingProgress(nimg=123456, step=3858),
    )
    parts = compact_snapshot(tmp_path / "full.safetensors", tmp_path / "compact")
    sizes = [part.stat().st_size for part in parts]
    assert len(parts) == 2 and max(sizes) < 16 * 2**20 and sum(sizes) <= 28e6, sizes
    assert parts[0].name == "compact-000123456-part1of2.safetensors"
    export_generator(parts[0], tmp_path / "G.safetensors")
    assert (tmp_path / "G.safetensors").stat().st_size <= 40e6


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
