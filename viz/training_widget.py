"""Training panel: start, attach to, watch and steer ``panohead train`` runs without a terminal.

The run is a separate process (:mod:`panohead.training.launcher`) and the panel only reads its run
folder (:mod:`panohead.training.monitor`): appended log lines, the console tail and the newest grid
PNG, each at most a few times a second and off the UI thread where it could take long (dataset
checks, PNG decoding). Nothing here ever waits for the run, so the panel never freezes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from imgui_bundle import imgui, implot
from PIL import Image

from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.training.launcher import (
    PRESETS,
    LaunchSpec,
    RunProcess,
    check_launch,
    masks_in_use,
    recorded_masks,
    resume_arguments,
    train_arguments,
)
from panohead.training.loop import exit_status
from panohead.training.monitor import CONSOLE_FILE, RunMonitor, tail_lines
from panohead.training.options import TRAINING_PRESETS
from viz.checkpoint_widget import CheckpointWidget
from viz.file_dialog import FileDialog, path_field
from viz.state import TrainingState
from viz.ui import ERROR, GOOD, MUTED, WARN, hint, label, radio_row
from viz.widget import Widget

POLL_SECONDS = 0.25  # how often the log is checked for new lines
CONSOLE_SECONDS = 1.0  # how often the console tail is re-read while shown
MASKS_SECONDS = 1.0  # how often the form re-checks whether the default mask folder exists
START_MODES = [("scratch", "New"), ("continue", "Continue folder"), ("snapshot", "Snapshot"), ("finetune", "Fine-tune")]
CHECKPOINT_FILTERS = ["Checkpoints (.safetensors, .pkl)", "*.safetensors *.pkl", "All files", "*"]
DATA_FILTERS = ["Datasets (.zip)", "*.zip", "All files", "*"]
MASK_FILTERS = ["Mask archives (.zip)", "*.zip", "All files", "*"]
# (plot title, [(log key, legend)]): the loss curves and the regularisers next to them.
PLOTS = [
    ("Losses", [("loss_G", "G"), ("loss_D", "D")]),
    ("Regularisers", [("r1_image", "R1 image"), ("r1_mask", "R1 mask"), ("camera_offset", "camera offset |dc|")]),
]
SPARSE = {"r1_image", "r1_mask"}  # lazy R1 runs every 16th step: most ticks lack it, so mark its points


class Background:
    """``work()`` on a daemon thread; :attr:`result` / :attr:`error` once :attr:`done`."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.result: object = None
        self.error: str | None = None
        self._work = work
        self._thread = threading.Thread(target=self._run, daemon=True, name="panohead-training-panel")
        self._thread.start()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.result = self._work()
        except Exception as error:  # shown in the panel; the UI thread never sees the exception
            self.error = f"{type(error).__name__}: {error}"
        GlfwWindow.wake()


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


def duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class TrainingWidget(Widget):
    title = "Training run"
    tab = "Train"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.visible_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        self.folder_text = self.form.folder
        self.dialogs = {name: FileDialog() for name in ("data", "masks", "outdir", "checkpoint", "attach")}
        self.monitor: RunMonitor | None = None
        self.process: RunProcess | None = None
        self.launch_error: str | None = None  # why the last start was refused
        self.exit_message: str | None = None  # how the app's process ended (set once when it exits)
        self._check: Background | None = None  # the dataset check of a pending start
        self._pending: tuple[list[str], str, int] | None = None  # (args, outdir, gpus) to launch after it
        self._start_before: dict | None = None  # the folder's last start record when the app launched its run
        self._last_poll = 0.0
        self.console: list[str] = []
        self._last_console = 0.0
        self.grid_texture = Texture()
        self.grid_shown: Path | None = None  # the PNG on the texture
        self.show_mask = False
        self._grid_job: tuple[Path, Background] | None = None
        self.plotted: dict[str, int] = {}  # points of each curve drawn by the last frame (for tests)
        self._masks_line: tuple[tuple[str, str], float, str] | None = None  # ((data, masks), when, line) of the form
        self._run_masks: tuple[object, str | None] | None = None  # (the start record it was read at, line)
        if self.form.folder and (Path(self.form.folder) / "log.jsonl").is_file():
            self.attach(self.form.folder)  # the run watched last time

    @property
    def form(self) -> TrainingState:
        return self.app.state.training

    # --- actions (also the test API) ---------------------------------------------------------------
    def start(self, spec: LaunchSpec | None = None) -> None:
        """Check ``spec`` (default: the form) off the UI thread, then launch it; errors go to :attr:`launch_error`."""
        spec = spec or launch_spec(self.form, self.visible_gpus)
        if self.busy:
            self._refuse("a run started from this panel is still running: stop it first")
            return
        self.launch_error = None
        self._pending = (train_arguments(spec), spec.outdir, spec.gpus)
        self._check = Background(lambda: check_launch(spec, self.visible_gpus))

    def attach(self, folder: str) -> bool:
        """Watch the run in ``folder`` (started from this app, another one, or the command line)."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            self.app.notify(f"{path}: no such run folder", error=True)
            return False
        if self.monitor is None or self.monitor.folder.resolve() != path.resolve():
            self.monitor = RunMonitor(path)
            self.console, self._last_console, self._last_poll = [], 0.0, 0.0
            self.grid_shown, self._grid_job, self._run_masks = None, None, None
            if self.process is None or not self.process.running:
                self.process = RunProcess.adopt(path)  # a run an earlier app session launched here
                self.exit_message, self._start_before = None, None
        self.folder_text = self.form.folder = str(path)
        self.poll(force=True)
        if not self.monitor.exists:
            self.app.notify(f"{path}: no log.jsonl yet (not a run folder, or the run has not started)")
        return True

    def stop(self) -> None:
        """Graceful stop of the app's run: it writes a snapshot, then exits."""
        if self.process is not None and self.process.running:
            self.process.stop()
            self.app.notify("stopping the run: it writes a snapshot first")

    def kill(self) -> None:
        if self.process is not None and self.process.running:
            self.process.kill()

    def resume(self) -> None:
        """Relaunch the watched run with ``--resume auto`` (its own recorded command and process count)."""
        if self.monitor is None:
            return
        if self.busy:
            self._refuse("the run is still going: stop it before resuming")
            return
        try:
            args, world = resume_arguments(self.monitor.folder)
        except ValueError as error:
            self._refuse(str(error))
            return
        gpus = 0 if "--device" in args and args[args.index("--device") + 1] == "cpu" else world
        if gpus > self.visible_gpus:
            self._refuse(f"the run used {gpus} GPUs but torch sees {self.visible_gpus} here")
            return
        self.launch_error = None
        self._launch(args, str(self.monitor.folder), gpus)

    @property
    def latest_snapshot(self) -> Path | None:
        snapshot = self.monitor.snapshot if self.monitor is not None else None
        return snapshot.path if snapshot is not None and snapshot.path.is_file() else None

    def open_snapshot(self) -> None:
        """Load the newest snapshot (its G_ema) as the viewer's model, through the Checkpoint panel."""
        path = self.latest_snapshot
        if path is None:
            self.app.notify("no snapshot to open yet", error=True)
            return
        self.app.panel(CheckpointWidget).open(str(path))

    @property
    def masks_line(self) -> str:
        """Which masks the form's run would read (re-checked at most every MASKS_SECONDS: it stats the disk)."""
        key, now = (self.form.data.strip(), self.form.masks.strip()), time.monotonic()
        if self._masks_line is None or self._masks_line[0] != key or now - self._masks_line[1] >= MASKS_SECONDS:
            self._masks_line = (key, now, masks_in_use(*key))
        return self._masks_line[2]

    @property
    def run_masks(self) -> str | None:
        """The watched run's masks line from its options.json (re-read when a new session starts logging)."""
        if self.monitor is None:
            return None
        start = self.monitor.start
        if self._run_masks is None or self._run_masks[0] is not start:
            self._run_masks = (start, recorded_masks(self.monitor.folder))
        return self._run_masks[1]

    @property
    def busy(self) -> bool:
        """A start is being checked or the app's run is alive."""
        return self._check is not None or (self.process is not None and self.process.running)

    def close(self) -> None:
        """The run keeps going without the app (that is why it is a separate process); say how to reach it."""
        if self.process is not None and self.process.running:
            print(
                f"training run {self.process.outdir} (pid {self.process.pid}) keeps running; "
                f"stop it with: kill -TERM {self.process.pid}"
            )
        self.grid_texture.delete()

    # --- per-frame logic -----------------------------------------------------------------------------
    def _refuse(self, message: str) -> None:
        self.launch_error = message
        self.app.notify(message, error=True)

    def _launch(self, args: list[str], outdir: str, gpus: int) -> None:
        try:
            self.process = RunProcess(args, outdir, gpus)
        except OSError as error:
            self._refuse(f"cannot start the run in {outdir}: {error.strerror or error}")
            return
        self.exit_message = None
        self.attach(outdir)
        self._start_before = self.monitor.start  # records of earlier sessions say nothing about this one
        self.app.notify(f"training started in {outdir}")

    def poll(self, force: bool = False) -> None:
        """Finish a pending start, read the log's new lines, notice the process's exit. Never blocks."""
        if self._check is not None and self._check.done:
            check, self._check = self._check, None
            problem = check.error or check.result
            if problem:
                self._refuse(str(problem))
            elif self._pending is not None:
                self._launch(*self._pending)
            self._pending = None
        now = time.monotonic()
        if self.monitor is not None and (force or now - self._last_poll >= POLL_SECONDS):
            self._last_poll = now
            self.monitor.poll()
        process = self.process
        if process is not None and process.returncode is not None and self.exit_message is None:
            self._finished(process)

    def _finished(self, process: RunProcess) -> None:
        monitor = self.monitor
        if monitor is None or monitor.folder.resolve() != process.outdir.resolve():
            monitor = RunMonitor(process.outdir)  # the panel watches another folder meanwhile
        while monitor.poll():  # the last records before the exit
            pass
        self.console = tail_lines(process.console)
        self._last_console = time.monotonic()
        code = process.returncode
        logged = monitor.start is not None and monitor.start is not self._start_before  # this process's session
        if logged and monitor.error:
            self.exit_message = f"run died: {monitor.error}"
        elif logged and monitor.stop is not None and code in (0, exit_status(monitor.stop.get("reason"))):
            # A signalled run exits 128 + signal after its snapshot; an adopted one reports 0 (unknown).
            self.exit_message = f"run stopped ({monitor.stop.get('reason')}) at {monitor.nimg} images"
        elif process.stop_requested is not None and code in (-signal.SIGTERM, -signal.SIGKILL):
            when = f"at {monitor.nimg} images" if logged else "before its first step"
            self.exit_message = f"run stopped {when} without a new snapshot ({signal.Signals(-code).name})"
        else:
            last = next((line for line in reversed(self.console) if not line.startswith("$ ")), "no output")
            self.exit_message = f"run died (exit status {code}): {last}"
        self.app.notify(self.exit_message, error=self.exit_message.startswith("run died"))

    def _poll_grid(self) -> None:
        """Decode the newest grid PNG on a worker thread, upload it here when ready."""
        snapshot = self.monitor.snapshot if self.monitor is not None else None
        wanted = snapshot and (snapshot.mask_grid if self.show_mask else snapshot.grid)
        if self._grid_job is not None and self._grid_job[1].done:
            path, job = self._grid_job
            self._grid_job = None
            if job.result is not None:
                self.grid_texture.upload(job.result)
                self.grid_shown = path
        if wanted and wanted != self.grid_shown and self._grid_job is None and wanted.is_file():
            self._grid_job = (wanted, Background(lambda: np.asarray(Image.open(wanted).convert("RGB"))))

    # --- drawing -------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        self.poll()
        if not show:
            return
        self._poll_grid()
        if self.monitor is None:
            self._start_form()
        imgui.separator_text("Run")
        submitted, self.folder_text = path_field(
            "attach-folder",
            self.folder_text,
            self.dialogs["attach"],
            "Run folder (pick its log.jsonl)",
            ["Run logs", "log.jsonl", "All files", "*"],
        )
        if submitted:
            self.attach(str(Path(self.folder_text).parent if self.folder_text.endswith(".jsonl") else self.folder_text))
        imgui.begin_disabled(not self.folder_text.strip())
        if imgui.button("Attach to this folder"):
            self.attach(self.folder_text)
        imgui.end_disabled()
        if self.monitor is None:
            hint("Attach to a run folder to watch it, including one started with 'panohead train'.")
            return
        self._status()
        self._actions()
        self._plots()
        self._grid()
        self._console()
        if imgui.tree_node("Start another run"):
            self._start_form()
            imgui.tree_pop()

    def _start_form(self) -> None:
        form, scale = self.form, self.app.scale
        if self.monitor is None:
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
        preset = radio_row(form.preset, [(p, p) for p in PRESETS], "train-preset")
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
        if self.visible_gpus:
            _, form.gpus = imgui.slider_int(
                "##gpus", min(form.gpus, self.visible_gpus), 0, self.visible_gpus, "%d (0 = CPU)"
            )
        else:
            imgui.text_colored(MUTED, "none visible to torch: trains on the CPU")
        checking = self._check is not None
        imgui.begin_disabled(self.busy)
        if imgui.button("Checking the dataset..." if checking else "Start training"):
            self.start()
        imgui.end_disabled()
        if self.launch_error:
            hint(self.launch_error, ERROR)
        hint(
            "Continue folder: the newest snapshot in the output folder. Fine-tune: our checkpoint or snapshot, "
            "or an official PanoHead .pkl. Several GPUs run under torchrun."
        )

    def _status(self) -> None:
        monitor, process = self.monitor, self.process
        ours = process is not None and process.outdir.resolve() == monitor.folder.resolve()
        imgui.push_text_wrap_pos(0.0)
        if ours and process.running:
            state = "stopping: writing a snapshot..." if process.stop_requested else "running"
            imgui.text_colored(WARN if process.stop_requested else GOOD, f"{state} (pid {process.pid})")
        elif ours and self.exit_message:
            imgui.text_colored(ERROR if self.exit_message.startswith("run died") else MUTED, self.exit_message)
        elif monitor.error:
            imgui.text_colored(ERROR, f"run died: {monitor.error}")
        elif monitor.stop is not None:
            imgui.text_colored(MUTED, f"stopped ({monitor.stop.get('reason')}) at {monitor.nimg} images")
        elif monitor.start is not None:
            age = monitor.seconds_since_record()
            imgui.text_colored(GOOD, f"running elsewhere or interrupted: last record {duration(age or 0)} ago")
        else:
            imgui.text_colored(MUTED, "waiting for the run's first log record...")
        imgui.pop_text_wrap_pos()
        total = monitor.kimg_total
        tick = monitor.last_tick or {}
        if total:
            done = monitor.nimg / (total * 1000)
            imgui.progress_bar(
                min(done, 1.0), imgui.ImVec2(-1, 0), f"{monitor.nimg} / {total * 1000:.0f} images ({done:.0%})"
            )
        parts = []
        if "images_per_s" in tick:
            parts.append(f"{tick['images_per_s']:.1f} img/s")
        if "eta_s" in tick and not monitor.finished:
            parts.append(f"ETA {duration(tick['eta_s'])}")
        if tick.get("gpu_mem_gb") is not None:
            parts.append(f"GPU memory {tick['gpu_mem_gb']:.1f} GB (peak)")
        elif monitor.start is not None:
            parts.append(f"on {monitor.start.get('device')} x {monitor.start.get('world_size', 1)}")
        if parts:
            imgui.text("   ".join(parts))
        if self.run_masks:
            hint(self.run_masks)

    def _actions(self) -> None:
        process, monitor = self.process, self.monitor
        ours = process is not None and process.outdir.resolve() == monitor.folder.resolve()
        if ours and process.running:
            imgui.begin_disabled(process.stop_requested is not None)
            if imgui.button("Stop (with snapshot)"):
                self.stop()
            imgui.end_disabled()
            if process.stop_requested is not None:
                imgui.same_line()
                if imgui.button("Kill now"):
                    self.kill()
                imgui.set_item_tooltip("End the run at once, without a snapshot")
            imgui.same_line()
        else:
            imgui.begin_disabled(self.busy or not (monitor.folder / "options.json").is_file())
            if imgui.button("Resume"):
                self.resume()
            imgui.end_disabled()
            imgui.set_item_tooltip("Continue from the newest snapshot (--resume auto)")
            imgui.same_line()
        snapshot = self.latest_snapshot
        imgui.begin_disabled(snapshot is None)
        if imgui.button("Open latest snapshot in the viewer"):
            self.open_snapshot()
        imgui.end_disabled()
        if snapshot is not None:
            imgui.text_colored(MUTED, f"latest snapshot: {snapshot.name}")

    def _plots(self) -> None:
        curves = self.monitor.curves()
        height = 150 * self.app.scale
        self.plotted = {}
        for title, lines in PLOTS:
            if not implot.begin_plot(f"{title}##training", imgui.ImVec2(-1, height)):
                continue
            implot.setup_axes("kimg", "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.setup_legend(implot.Location_.north_east)
            for key, legend in lines:
                values = curves[key]
                keep = np.isfinite(values)
                if keep.any():
                    spec = implot.Spec()
                    if key in SPARSE or keep.sum() == 1:
                        spec.marker, spec.marker_size = implot.Marker_.circle, 3.0 * self.app.scale
                    implot.plot_line(
                        legend, np.ascontiguousarray(curves["kimg"][keep]), np.ascontiguousarray(values[keep]), spec
                    )
                self.plotted[key] = int(keep.sum())
            implot.end_plot()

    def _grid(self) -> None:
        if self.monitor.snapshot is None:
            return
        imgui.separator_text(f"Samples at {self.monitor.snapshot.nimg} images (front, side, back, other side)")
        _, self.show_mask = imgui.checkbox("Masks", self.show_mask)
        if self.grid_shown is None or self.grid_texture.shape is None:
            return
        height, width = self.grid_texture.shape
        shown_width = imgui.get_content_region_avail().x
        imgui.image(self.grid_texture.ref, imgui.ImVec2(shown_width, shown_width * height / width))

    def _console(self) -> None:
        console = self.monitor.folder / CONSOLE_FILE
        imgui.separator_text("Console")
        now = time.monotonic()
        if now - self._last_console >= CONSOLE_SECONDS:
            self.console, self._last_console = tail_lines(console), now
        if not self.console:
            hint(f"no {CONSOLE_FILE} in this folder (runs started from the command line print to their terminal)")
            return
        imgui.begin_child("##console", imgui.ImVec2(-1, 160 * self.app.scale), imgui.ChildFlags_.borders)
        imgui.push_font(self.app.fonts["mono"], 0.0)
        for line in self.console:
            imgui.text_unformatted(line)
        imgui.pop_font()
        if self.process is not None and self.process.running:
            imgui.set_scroll_here_y(1.0)
        imgui.end_child()
