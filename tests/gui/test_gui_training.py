"""The Training panel in a real window: a tiny CPU run started, watched, stopped and opened in the viewer;
attaching to a run written by the command line; datasets rejected before launch.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_heads import write_tiny_dataset

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data"), count=8, resolution=32)


@pytest.fixture
def panel(app):
    from viz.training_widget import TrainingWidget

    widget = app.panel(TrainingWidget)
    app.select_tab = "Train"
    yield widget
    if widget.run.process is not None and widget.run.process.running:  # never leave a run behind
        widget.run.process.kill()
        widget.run.process.wait(30)


def frames_until(app, condition, timeout: float, what: str) -> int:
    """Draw UI frames until ``condition()``; returns how many were drawn."""
    deadline, frames = time.monotonic() + timeout, 0
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        app.step_frame(wait=0.02)
        frames += 1
    app.step_frame()
    return frames


def test_a_tiny_cpu_run_started_from_the_panel_plots_its_loss_stops_with_a_snapshot_and_opens(
    app, panel, dataset, tmp_path
):
    run, masks = tmp_path / "run", tmp_path / "cut-masks"  # masks outside the default place, chosen in the form
    shutil.copytree(dataset.with_name("heads_masks"), masks)
    panel.form.state.data, panel.form.state.outdir, panel.form.state.preset, panel.form.state.kimg = (
        str(dataset),
        str(run),
        "tiny",
        1.0,
    )
    panel.form.state.masks = str(masks)
    panel.start()
    frames = frames_until(app, lambda: panel.view.plotted.get("loss_G", 0) >= 1, 180, "a plotted G loss")
    assert frames >= 10  # the UI kept drawing while the run started
    assert panel.run.process.running and panel.view.monitor.nimg >= 4
    assert panel.view.monitor.kimg_total == 1.0 and panel.view.plotted["loss_D"] >= 1
    assert panel.view.monitor.last_tick["images_per_s"] > 0
    assert panel.run.process.command[-12:-8] == ["--data", str(dataset), "--masks", str(masks)]
    assert panel.view.run_masks == f"masks: {masks}"  # from the run's options.json
    assert app.state.to_dict()["training"]["masks"] == str(masks)  # remembered with the settings

    launched = panel.run.process  # as if the app restarted: a fresh attach finds the run's process and can stop it
    panel.run.process = panel.view.monitor = None
    panel.attach(str(run))
    assert panel.run.process.pid == launched.pid and panel.run.process.running and panel.run.process is not launched
    assert panel.view.run_masks == f"masks: {masks}"
    panel.run.stop()
    frames_until(app, lambda: panel.run.exit_message is not None, 120, "the graceful stop")
    assert panel.run.exit_message.startswith("run stopped (SIGTERM) at ")
    snapshot = panel.view.latest_snapshot
    assert snapshot is not None and snapshot.name == f"snapshot-{panel.view.monitor.nimg:09d}.safetensors"
    assert (run / "console.log").read_text().startswith("\n$ ")
    assert launched.wait(10) == 143  # stopped by SIGTERM after writing its snapshot: 128 + 15

    panel.view.open_snapshot()
    assert app.state.model.source == str(snapshot)
    app.wait_idle()
    assert app.model.source == str(snapshot) and app.model.image_resolution == 32


def test_attaching_to_a_run_written_by_the_cli_shows_its_curves_and_snapshot(app, panel, dataset, tmp_path):
    from panohead.cli import main

    run = tmp_path / "cli-run"
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
            "--device",
            "cpu",
            "--kimg",
            "0.008",
        ],
    )
    assert result.exit_code == 0, result.output
    assert panel.attach(str(run))
    frames_until(app, lambda: panel.view.plotted, 10, "the curves")
    assert panel.view.plotted == {"loss_G": 2, "loss_D": 2, "r1_image": 1, "r1_mask": 1, "camera_offset": 2}
    assert panel.view.monitor.stop["reason"] == "done" and panel.view.monitor.nimg == 8
    assert panel.view.latest_snapshot == run / "snapshot-000000008.safetensors"
    frames_until(app, lambda: panel.view.grid_shown is not None, 10, "the sample grid")
    assert panel.view.grid_texture.shape == (2 * 32, 4 * 32)  # 2 seeds x (front, side, back, other side)
    assert panel.run.process is None and not panel.run.busy
    assert panel.view.run_masks == f"masks: {dataset}_masks (the default beside the dataset)"  # none given: the default
    assert app.state.training.folder == str(run)  # remembered with the settings: the next session attaches again
    with open(run / "log.jsonl", "ab") as log:  # a broken line (another writer, a bad disk): skipped, said
        log.write(b'{"event": "tick", "nimg": "many"}\n')
    frames_until(app, lambda: panel.view.monitor.bad_lines == 1, 10, "the broken line")
    lines = (run / "log.jsonl").read_bytes().count(b"\n")
    assert panel.view.monitor.bad_line == f"log.jsonl line {lines}: 'nimg' is not a number"
    assert panel.view.monitor.nimg == 8 and panel.view.plotted["loss_G"] == 2  # the good lines still count


def test_a_broken_dataset_is_rejected_before_launch_with_the_loaders_message(app, panel, dataset, tmp_path):
    missing_mask = next((dataset.parent / "heads_masks").iterdir())
    missing_mask.rename(missing_mask.with_suffix(".bak"))
    nowhere = tmp_path / "nowhere"
    try:
        for data, masks, message in [
            (nowhere, "", f"{nowhere}: no such folder or zip file"),
            (dataset, "", f"{missing_mask}: missing mask for image {missing_mask.name!r}"),
            (dataset, str(nowhere), f"{nowhere}: mask folder/zip not found (pass the masks explicitly or create it)"),
        ]:
            panel.form.state.data, panel.form.state.outdir, panel.form.state.preset = (
                str(data),
                str(tmp_path / "run"),
                "tiny",
            )
            panel.form.state.masks = masks
            panel.start()
            frames_until(app, lambda: not panel.run.busy, 30, "the dataset check")
            assert panel.run.launch_error == message
            assert panel.run.process is None and not (tmp_path / "run").exists()
            assert any(m.text == message and m.error for m in app.messages())
    finally:
        missing_mask.with_suffix(".bak").rename(missing_mask)


def test_a_run_that_dies_before_logging_shows_the_reason_from_its_console(app, panel, dataset, tmp_path):
    from panohead.training.launcher import LaunchSpec

    panel.start(
        LaunchSpec(data=str(dataset), outdir=str(tmp_path / "run"), preset="tiny", gpus=0, extra=("--batch-gpu", "3"))
    )
    frames_until(app, lambda: panel.run.exit_message is not None, 120, "the run's exit")
    reason = "Error: batch 4 must be a multiple of 1 process(es) x 3 images per pass (--batch-gpu)"
    assert panel.run.exit_message == f"run died (exit status 1): {reason}"
    assert any(m.text == panel.run.exit_message and m.error for m in app.messages())
    assert not panel.run.busy  # a corrected run can start


def test_stopping_a_run_during_its_start_up_says_no_snapshot_was_written(app, panel, dataset, tmp_path):
    from panohead.training.launcher import LaunchSpec

    panel.start(LaunchSpec(data=str(dataset), outdir=str(tmp_path / "run"), preset="tiny", gpus=0))
    frames_until(app, lambda: panel.run.process is not None, 30, "the launch")
    panel.run.stop()  # python is still importing torch: no step, no signal handler yet
    frames_until(app, lambda: panel.run.exit_message is not None, 30, "the run's exit")
    assert panel.run.exit_message == "run stopped before its first step without a new snapshot (SIGTERM)"
    assert panel.view.latest_snapshot is None


def test_the_masks_field_says_what_an_empty_field_means_for_the_chosen_dataset(app, panel, dataset, tmp_path):
    def drawn() -> str:
        """The line the form drew under the empty masks field in a fresh frame."""
        panel.form._masks_line = None
        app.step_frame()
        assert panel.form._masks_line is not None, "the start form was not drawn"
        return panel.form._masks_line[2]

    panel.view.monitor = None  # no run watched: the start form is the panel
    app.step_frame()  # the Train tab opens
    panel.form.state.data, panel.form.state.masks = str(dataset), ""
    assert drawn() == f"masks: {dataset}_masks (the default beside the dataset)"
    bare = tmp_path / "bare"
    shutil.copytree(dataset, bare)
    panel.form.state.data = str(bare)
    assert drawn().startswith(f"no masks: {tmp_path / 'bare_masks'} does not exist, so the start is refused")
    (tmp_path / "bare_masks").mkdir()
    assert drawn() == f"masks: {tmp_path / 'bare_masks'} (the default beside the dataset)"
    panel.form.state.masks = str(tmp_path / "bare_masks")
    panel.form._masks_line = None
    app.step_frame()
    assert panel.form._masks_line is None  # a chosen folder speaks for itself: no line under it
