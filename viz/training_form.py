"""The Training panel's "Start a run" form: the options of a new run and what they mean before it starts.

It reads and writes ``app.state.training`` (remembered between sessions), turns it into a
:class:`panohead.training.launcher.LaunchSpec`, and says as the user types which masks the run would
read. The full check of the dataset runs when "Start training" hands the spec to the run control
(:mod:`viz.training_run`), off the UI thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from imgui_bundle import imgui

from panohead.config import PRESET_NAMES
from panohead.training.launcher import LaunchSpec, masks_in_use
from panohead.training.options import TRAINING_PRESETS
from viz.file_dialog import FileDialog, path_field
from viz.state import StartFrom, TrainingState
from viz.ui import ERROR, MUTED, WARN, hint, label, radio_row

if TYPE_CHECKING:
    from viz.app import App
    from viz.training_run import RunControl

MASKS_SECONDS = 1.0  # how often the form re-checks whether the default mask folder exists
START_MODES: list[tuple[StartFrom, str]] = [
    ("scratch", "New"),
    ("continue", "Continue folder"),
    ("snapshot", "Snapshot"),
    ("finetune", "Fine-tune"),
]
CHECKPOINT_FILTERS = ["Checkpoints (.safetensors, .pkl)", "*.safetensors *.pkl", "All files", "*"]
DATA_FILTERS = ["Datasets (.zip)", "*.zip", "All files", "*"]
MASK_FILTERS = ["Mask archives (.zip)", "*.zip", "All files", "*"]


def launch_spec(form: TrainingState, visible_gpus: int) -> LaunchSpec:
    """The run the "Start a run" form describes."""
    checkpoint = form.checkpoint.strip()
    return LaunchSpec(
        data=form.data.strip(),
        masks=form.masks.strip() or None,
        outdir=form.outdir.strip(),
        preset=form.preset,
        kimg=form.kimg,
        resume={"continue": "auto", "snapshot": checkpoint}.get(form.start_from),
        finetune=checkpoint if form.start_from == "finetune" else None,
        gpus=min(form.gpus, visible_gpus),
    )


class TrainingForm:
    def __init__(self, app: App) -> None:
        self.app = app
        self.dialogs = {name: FileDialog() for name in ("data", "masks", "outdir", "checkpoint")}
        self._masks_line: tuple[tuple[str, str], float, str] | None = None  # ((data, masks), when, line)

    @property
    def state(self) -> TrainingState:
        return self.app.state.training

    @property
    def masks_line(self) -> str:
        """Which masks the form's run would read (re-checked at most every MASKS_SECONDS: it stats the disk)."""
        key, now = (self.state.data.strip(), self.state.masks.strip()), time.monotonic()
        if self._masks_line is None or self._masks_line[0] != key or now - self._masks_line[1] >= MASKS_SECONDS:
            self._masks_line = (key, now, masks_in_use(*key))
        return self._masks_line[2]

    def draw(self, run: RunControl, titled: bool) -> None:
        """The form, under a "Start a run" title when ``titled``; its button starts the run through ``run``."""
        form, scale = self.state, self.app.scale
        if titled:
            imgui.separator_text("Start a run")
        label("Dataset", scale)
        _, form.data = path_field("train-data", form.data, self.dialogs["data"], "Training dataset (zip)", DATA_FILTERS)
        label("Masks", scale)
        zipped = form.data.strip().lower().endswith(".zip")  # masks usually come in the dataset's own kind
        _, form.masks = path_field(
            "train-masks",
            form.masks,
            self.dialogs["masks"],
            "Mask zip" if zipped else "Mask folder",
            MASK_FILTERS,
            pick_folder=not zipped,
        )
        imgui.set_item_tooltip(
            "Foreground masks with the images' file names; leave empty for the default beside the dataset"
        )
        if not form.masks.strip():  # say what an empty field means for this dataset
            line = self.masks_line
            hint(line, WARN if line.startswith("no masks") else MUTED)
        label("Output", scale)
        _, form.outdir = path_field(
            "train-outdir", form.outdir, self.dialogs["outdir"], "Run folder", ["All files", "*"]
        )
        label("Preset", scale)
        preset = radio_row(form.preset, [(p, p) for p in PRESET_NAMES], "train-preset")
        if preset != form.preset:
            form.preset, form.kimg = preset, TRAINING_PRESETS[preset].kimg
        label("Length", scale)
        _, form.kimg = imgui.input_float("##kimg", form.kimg, 0.0, 0.0, "%g kimg")
        imgui.set_item_tooltip("Thousands of real images to train on (the preset's default is filled in)")
        label("Start from", scale)
        form.start_from = radio_row(form.start_from, START_MODES, "train-start")
        if form.start_from in ("snapshot", "finetune"):
            label("Checkpoint", scale)
            _, form.checkpoint = path_field(
                "train-checkpoint",
                form.checkpoint,
                self.dialogs["checkpoint"],
                "Snapshot or checkpoint to start from",
                CHECKPOINT_FILTERS,
            )
        label("GPUs", scale)
        if run.visible_gpus:
            _, form.gpus = imgui.slider_int(
                "##gpus", min(form.gpus, run.visible_gpus), 0, run.visible_gpus, "%d (0 = CPU)"
            )
        else:
            imgui.text_colored(MUTED, "none visible to torch: trains on the CPU")
        imgui.begin_disabled(run.busy)
        if imgui.button("Checking the dataset..." if run.checking else "Start training"):
            run.start(launch_spec(form, run.visible_gpus))
        imgui.end_disabled()
        if run.launch_error:
            hint(run.launch_error, ERROR)
        hint(
            "Continue folder: the newest snapshot in the output folder. Fine-tune: our checkpoint or snapshot, "
            "or an official PanoHead .pkl. Several GPUs run under torchrun."
        )
