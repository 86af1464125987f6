"""Training panel: start, attach to, watch and steer ``panohead train`` runs without a terminal.

Three parts, one job each: the "Start a run" form (:mod:`viz.training_form`), the control of the app's
run process (:mod:`viz.training_run`) and the monitor of the watched run folder
(:mod:`viz.training_monitor`). This widget composes them and owns the choice of folder to watch.
Nothing here ever waits for the run, so the panel never freezes.
"""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from panohead.training.launcher import LaunchSpec
from panohead.training.monitor import RunMonitor
from viz.file_dialog import FileDialog, path_field
from viz.training_form import TrainingForm, launch_spec
from viz.training_monitor import MonitorView
from viz.training_run import RunControl
from viz.ui import hint
from viz.widget import Widget


class TrainingWidget(Widget):
    title = "Training run"
    tab = "Train"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.form = TrainingForm(app)
        self.run = RunControl(app, self._watch_launched)
        self.view = MonitorView(app)
        self.folder_text = self.form.state.folder
        self.attach_dialog = FileDialog()
        if self.folder_text and (Path(self.folder_text) / "log.jsonl").is_file():
            self.attach(self.folder_text)  # the run watched last time

    # --- actions (also the test API) ---------------------------------------------------------------
    def start(self, spec: LaunchSpec | None = None) -> None:
        """Check ``spec`` (default: the form) off the UI thread, then launch it and watch its folder."""
        self.run.start(spec or launch_spec(self.form.state, self.run.visible_gpus))

    def attach(self, folder: str) -> bool:
        """Watch the run in ``folder`` (started from this app, another one, or the command line)."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            self.app.notify(f"{path}: no such run folder", error=True)
            return False
        if self.view.watch(path):
            self.run.adopt(path)  # a run an earlier app session launched here
        self.folder_text = self.form.state.folder = str(path)
        self.view.poll(force=True)
        if self.view.monitor is not None and not self.view.monitor.exists:
            self.app.notify(f"{path}: no log.jsonl yet (not a run folder, or the run has not started)")
        return True

    def close(self) -> None:
        self.run.close()
        self.view.close()

    def _watch_launched(self, folder: str) -> RunMonitor | None:
        self.attach(folder)
        return self.view.monitor

    # --- drawing -------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        self.run.poll(self.view.monitor)
        self.view.poll()
        if not show:
            return
        self.view.poll_grid()
        if self.view.monitor is None:
            self.form.draw(self.run, titled=True)
        imgui.separator_text("Run")
        submitted, self.folder_text = path_field(
            "attach-folder",
            self.folder_text,
            self.attach_dialog,
            "Run folder (pick its log.jsonl)",
            ["Run logs", "log.jsonl", "All files", "*"],
        )
        if submitted:
            self.attach(str(Path(self.folder_text).parent if self.folder_text.endswith(".jsonl") else self.folder_text))
        imgui.begin_disabled(not self.folder_text.strip())
        if imgui.button("Attach to this folder"):
            self.attach(self.folder_text)
        imgui.end_disabled()
        monitor = self.view.monitor
        if monitor is None:
            hint("Attach to a run folder to watch it, including one started with 'panohead train'.")
            return
        self.run.draw_state(monitor)
        self.view.draw_progress(monitor)
        self.run.draw_actions(monitor)
        self.view.draw_snapshot()
        self.view.draw_plots(monitor)
        self.view.draw_grid(monitor)
        process = self.run.process
        self.view.draw_console(monitor, follow=process is not None and process.running)
        if imgui.tree_node("Start another run"):
            self.form.draw(self.run, titled=False)
            imgui.tree_pop()
