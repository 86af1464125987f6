"""The Training panel's run control: start, stop, kill and resume the app's ``panohead train`` process.

The run is a separate process (:mod:`panohead.training.launcher`), so the app never waits for it and
closing the app does not stop it. A start first checks the dataset with the loader's own checks on a
:class:`viz.jobs.Job` (it reads every image header) and launches only when that finds nothing wrong.
When the process exits, the run folder's log says how it ended (stopped with a snapshot, died with an
error) and the console tail says why a run died before logging anything.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from imgui_bundle import imgui

from gui_utils.window import GlfwWindow
from panohead.training.launcher import LaunchSpec, RunProcess, check_launch, resume_arguments, train_arguments
from panohead.training.loop import exit_status
from panohead.training.monitor import RunMonitor, tail_lines
from viz.jobs import Job
from viz.ui import ERROR, GOOD, MUTED, WARN, duration

if TYPE_CHECKING:
    from viz.app import App


class RunControl:
    """The process this app launched (or adopted from an earlier session) for a run folder."""

    def __init__(self, app: App, watch: Callable[[str], RunMonitor | None]) -> None:
        """``watch(folder)`` points the panel's monitor at a run folder the app just launched into."""
        self.app = app
        self.visible_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        self._watch = watch
        self.process: RunProcess | None = None
        self.launch_error: str | None = None  # why the last start was refused
        self.exit_message: str | None = None  # how the app's process ended (set once when it exits)
        self._check: Job[str | None] | None = None  # the dataset check of a pending start
        self._pending: tuple[list[str], str, int] | None = None  # (args, outdir, gpus) to launch after it
        self._start_before: dict | None = None  # the folder's last start record when the app launched its run

    # --- actions (also the test API) ---------------------------------------------------------------
    def start(self, spec: LaunchSpec) -> None:
        """Check ``spec`` off the UI thread, then launch it; errors go to :attr:`launch_error`."""
        if self.busy:
            self._refuse("a run started from this panel is still running: stop it first")
            return
        self.launch_error = None
        self._pending = (train_arguments(spec), spec.outdir, spec.gpus)
        visible = self.visible_gpus
        self._check = Job.start("dataset check", lambda job: check_launch(spec, visible), GlfwWindow.wake)

    def adopt(self, folder: Path) -> None:
        """Take over the process an earlier app session launched into ``folder``, unless ours still runs."""
        if self.process is None or not self.process.running:
            self.process = RunProcess.adopt(folder)
            self.exit_message, self._start_before = None, None

    def stop(self) -> None:
        """Graceful stop of the app's run: it writes a snapshot, then exits."""
        if self.process is not None and self.process.running:
            self.process.stop()
            self.app.notify("stopping the run: it writes a snapshot first")

    def kill(self) -> None:
        if self.process is not None and self.process.running:
            self.process.kill()

    def resume(self, folder: Path) -> None:
        """Relaunch the run in ``folder`` with ``--resume auto`` (its own recorded command and process count)."""
        if self.busy:
            self._refuse("the run is still going: stop it before resuming")
            return
        try:
            args, world = resume_arguments(folder)
        except ValueError as error:
            self._refuse(str(error))
            return
        gpus = 0 if "--device" in args and args[args.index("--device") + 1] == "cpu" else world
        if gpus > self.visible_gpus:
            self._refuse(f"the run used {gpus} GPUs but torch sees {self.visible_gpus} here")
            return
        self.launch_error = None
        self._launch(args, str(folder), gpus)

    @property
    def checking(self) -> bool:
        return self._check is not None

    @property
    def busy(self) -> bool:
        """A start is being checked or the app's run is alive."""
        return self._check is not None or (self.process is not None and self.process.running)

    def owns(self, monitor: RunMonitor) -> bool:
        """The app's process is (or was) the run of the watched folder."""
        return self.process is not None and self.process.outdir.resolve() == monitor.folder.resolve()

    def close(self) -> None:
        """The run keeps going without the app (that is why it is a separate process); say how to reach it."""
        if self.process is not None and self.process.running:
            print(
                f"training run {self.process.outdir} (pid {self.process.pid}) keeps running; "
                f"stop it with: kill -TERM {self.process.pid}"
            )

    # --- per-frame logic -----------------------------------------------------------------------------
    def poll(self, monitor: RunMonitor | None) -> None:
        """Finish a pending start and notice the process's exit (``monitor``: the folder on screen). Never blocks."""
        check = self._check
        if check is not None and not check.running:
            self._check = None
            problem = check.error or check.value
            if problem:
                self._refuse(problem)
            elif self._pending is not None:
                self._launch(*self._pending)
            self._pending = None
        process = self.process
        if process is not None and process.returncode is not None and self.exit_message is None:
            self._finished(process, monitor)

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
        monitor = self._watch(outdir)
        # Records of earlier sessions in the folder say nothing about this one.
        self._start_before = monitor.start if monitor is not None else None
        self.app.notify(f"training started in {outdir}")

    def _finished(self, process: RunProcess, monitor: RunMonitor | None) -> None:
        if monitor is None or monitor.folder.resolve() != process.outdir.resolve():
            monitor = RunMonitor(process.outdir)  # the panel watches another folder meanwhile
        while monitor.poll():  # the last records before the exit
            pass
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
            console = tail_lines(process.console)
            last = next((line for line in reversed(console) if not line.startswith("$ ")), "no output")
            self.exit_message = f"run died (exit status {code}): {last}"
        self.app.notify(self.exit_message, error=self.exit_message.startswith("run died"))

    # --- drawing -------------------------------------------------------------------------------------
    def draw_state(self, monitor: RunMonitor) -> None:
        """One line: the app's process (running, stopping, how it ended), else what the folder's log says."""
        ours = self.process if self.process is not None and self.owns(monitor) else None
        imgui.push_text_wrap_pos(0.0)
        if ours is not None and ours.running:
            state = "stopping: writing a snapshot..." if ours.stop_requested else "running"
            imgui.text_colored(WARN if ours.stop_requested else GOOD, f"{state} (pid {ours.pid})")
        elif ours is not None and self.exit_message:
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

    def draw_actions(self, monitor: RunMonitor) -> None:
        """Stop (then Kill) while the app's run goes, else Resume; leaves the cursor on the same line."""
        process = self.process
        if process is not None and self.owns(monitor) and process.running:
            imgui.begin_disabled(process.stop_requested is not None)
            if imgui.button("Stop (with snapshot)"):
                self.stop()
            imgui.end_disabled()
            if process.stop_requested is not None:
                imgui.same_line()
                if imgui.button("Kill now"):
                    self.kill()
                imgui.set_item_tooltip("End the run at once, without a snapshot")
        else:
            imgui.begin_disabled(self.busy or not (monitor.folder / "options.json").is_file())
            if imgui.button("Resume"):
                self.resume(monitor.folder)
            imgui.end_disabled()
            imgui.set_item_tooltip("Continue from the newest snapshot (--resume auto)")
        imgui.same_line()
