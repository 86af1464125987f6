"""The Training panel's monitor: what a run folder shows while (or after) it trains.

It only reads the folder (:class:`panohead.training.monitor.RunMonitor`): appended log lines (progress,
speed, ETA, loss curves), the console tail and the newest sample grid PNG, each at most a few times a
second, and the PNG decoded on a :class:`viz.jobs.Job`, so the panel never freezes on a long run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from imgui_bundle import imgui, implot
from PIL import Image

from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.training.launcher import recorded_masks
from panohead.training.monitor import CONSOLE_FILE, RunMonitor, tail_lines
from viz.checkpoint_widget import CheckpointWidget
from viz.jobs import Job
from viz.ui import MUTED, WARN, duration, hint

if TYPE_CHECKING:
    from viz.app import App

POLL_SECONDS = 0.25  # how often the log is checked for new lines
CONSOLE_SECONDS = 1.0  # how often the console tail is re-read while shown
# (plot title, [(log key, legend)]): the loss curves and the regularisers next to them.
PLOTS = [
    ("Losses", [("loss_G", "G"), ("loss_D", "D")]),
    ("Regularisers", [("r1_image", "R1 image"), ("r1_mask", "R1 mask"), ("camera_offset", "camera offset |dc|")]),
]
SPARSE = {"r1_image", "r1_mask"}  # lazy R1 runs every 16th step: most ticks lack it, so mark its points


def decode_png(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a grid PNG."""
    return np.asarray(Image.open(path).convert("RGB"))


class MonitorView:
    """The watched run folder: its progress line, curves, sample grid and console."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.monitor: RunMonitor | None = None
        self._last_poll = 0.0
        self.console: list[str] = []
        self._last_console = 0.0
        self.grid_texture = Texture()
        self.grid_shown: Path | None = None  # the PNG on the texture
        self.show_mask = False
        self._grid_job: tuple[Path, Job[np.ndarray]] | None = None
        self.plotted: dict[str, int] = {}  # points of each curve drawn by the last frame (for tests)
        self._run_masks: tuple[object, str | None] | None = None  # (the start record it was read at, line)

    def watch(self, folder: Path) -> bool:
        """Watch ``folder`` from the start of its log; False if it is the folder already watched."""
        if self.monitor is not None and self.monitor.folder.resolve() == folder.resolve():
            return False
        self.monitor = RunMonitor(folder)
        self.console, self._last_console, self._last_poll = [], 0.0, 0.0
        self.grid_shown, self._grid_job, self._run_masks = None, None, None
        return True

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
    def run_masks(self) -> str | None:
        """The watched run's masks line from its options.json (re-read when a new session starts logging)."""
        if self.monitor is None:
            return None
        start = self.monitor.start
        if self._run_masks is None or self._run_masks[0] is not start:
            self._run_masks = (start, recorded_masks(self.monitor.folder))
        return self._run_masks[1]

    def close(self) -> None:
        self.grid_texture.delete()

    # --- per-frame logic -----------------------------------------------------------------------------
    def poll(self, force: bool = False) -> None:
        """Read the log's new lines, at most every POLL_SECONDS unless ``force``. Never blocks for long."""
        now = time.monotonic()
        if self.monitor is not None and (force or now - self._last_poll >= POLL_SECONDS):
            self._last_poll = now
            self.monitor.poll()

    def poll_grid(self) -> None:
        """Decode the newest grid PNG on a worker thread, upload it here when ready."""
        snapshot = self.monitor.snapshot if self.monitor is not None else None
        wanted = snapshot and (snapshot.mask_grid if self.show_mask else snapshot.grid)
        if self._grid_job is not None and not self._grid_job[1].running:
            path, job = self._grid_job
            self._grid_job = None
            if job.value is not None:
                self.grid_texture.upload(job.value)
                self.grid_shown = path
        if wanted and wanted != self.grid_shown and self._grid_job is None and wanted.is_file():
            decode = Job.start(f"decoding {wanted.name}", lambda job: decode_png(wanted), GlfwWindow.wake)
            self._grid_job = (wanted, decode)

    # --- drawing -------------------------------------------------------------------------------------
    def draw_progress(self, monitor: RunMonitor) -> None:
        """Images seen of the run's total, speed, ETA and memory from the newest tick, and its masks."""
        total = monitor.kimg_total
        tick = monitor.last_tick or {}
        if total:
            done = monitor.nimg / (total * 1000)
            imgui.progress_bar(
                min(done, 1.0), imgui.ImVec2(-1, 0), f"{monitor.nimg} / {total * 1000:.0f} images ({done:.0%})"
            )
        parts = []
        if tick.get("images_per_s") is not None:
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
        if monitor.bad_line:
            hint(f"skipped {monitor.bad_lines} broken log line(s); the newest: {monitor.bad_line}", WARN)

    def draw_snapshot(self) -> None:
        snapshot = self.latest_snapshot
        imgui.begin_disabled(snapshot is None)
        if imgui.button("Open latest snapshot in the viewer"):
            self.open_snapshot()
        imgui.end_disabled()
        if snapshot is not None:
            imgui.text_colored(MUTED, f"latest snapshot: {snapshot.name}")

    def draw_plots(self, monitor: RunMonitor) -> None:
        curves = monitor.curves()
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

    def draw_grid(self, monitor: RunMonitor) -> None:
        if monitor.snapshot is None:
            return
        imgui.separator_text(f"Samples at {monitor.snapshot.nimg} images (front, side, back, other side)")
        _, self.show_mask = imgui.checkbox("Masks", self.show_mask)
        if self.grid_shown is None or self.grid_texture.shape is None:
            return
        height, width = self.grid_texture.shape
        shown_width = imgui.get_content_region_avail().x
        imgui.image(self.grid_texture.ref, imgui.ImVec2(shown_width, shown_width * height / width))

    def draw_console(self, monitor: RunMonitor, follow: bool) -> None:
        """The run's console tail; ``follow``: keep it scrolled to the newest line (the run is alive)."""
        console = monitor.folder / CONSOLE_FILE
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
        if follow:
            imgui.set_scroll_here_y(1.0)
        imgui.end_child()
