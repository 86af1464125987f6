"""The visualizer application: one window, a large head view on the left, panels on the right.

Each UI frame: poll input -> take the newest render result -> let every widget read/write
:attr:`App.state` -> freeze the state into a request and hand it to the render thread -> draw.
The UI thread never waits for the generator.

:class:`App` is also the programmatic API the GUI tests and scripts use::

    app = App(checkpoint="model.safetensors", device="cpu")
    app.set_state(edit={"psi": 0.5}, background={"mode": "colour"})
    result = app.wait_idle()          # frames until the full-quality picture is on screen
    pixels = app.read_framebuffer()   # (H, W, 3) uint8
    app.close()
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from imgui_bundle import imgui, imgui_ctx

from gui_utils.error_recovery import recovering_scopes
from gui_utils.frame_pacer import FramePacer
from gui_utils.imgui_window import ImguiWindow
from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.devices import pick_device
from panohead.errors import one_line
from panohead.model_source import ModelSource
from viz.async_renderer import AsyncRenderer
from viz.capture_widget import CaptureWidget
from viz.checkpoint_widget import CheckpointWidget
from viz.editor import Editor
from viz.file_dialog import draw_in_app_dialogs
from viz.models import ModelInfo
from viz.panels import PANELS
from viz.renderer import LruCache, Renderer, RenderResult
from viz.request import RenderRequest
from viz.session_widget import SessionWidget
from viz.settings import load_state, save_state
from viz.shortcuts_widget import ShortcutsWidget
from viz.state import VIEW_TARGETS, ViewTarget
from viz.ui import ERROR, hint, tab_grid
from viz.viewport_widget import ViewportWidget
from viz.widget import Widget

W = TypeVar("W", bound=Widget)
log = logging.getLogger(__name__)
TITLE = "PanoHead Studio"
LOGGED_LINES = 100  # distinct internal-error lines remembered as logged (each traceback is logged once)
TARGET_NAMES: dict[ViewTarget, str] = {
    "head": "Head",
    "trigrid": "Tri-grid inspector",
    "mirror": "Mirrored-face inspector",
}
SIDEBAR_RANGE = (280.0, 720.0)


@dataclass
class Message:
    text: str
    error: bool
    time: float


class App:
    def __init__(
        self,
        checkpoint: str | None = None,
        device: str = "auto",
        size: tuple[int, int] | None = None,
        visible: bool = True,
        vsync: bool = True,
        remember: bool = True,
    ) -> None:
        self.state, settings_warning = load_state()
        self.remember = remember
        if checkpoint is not None:
            self.state.model.source = checkpoint
        self.device = pick_device(device)
        self.cpu_mode = self.device.type == "cpu"
        self.device_name = "CPU" if self.cpu_mode else torch.cuda.get_device_name(self.device)
        if self.cpu_mode:
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the UI thread
        width, height = size or self.state.ui.window_size
        self.imgui = ImguiWindow(TITLE, width, height, visible=visible, vsync=vsync)
        self.texture = Texture()
        self.pacer = FramePacer()
        self.result: RenderResult | None = None  # the picture on screen
        self.model: ModelInfo | None = None  # the model that produced it
        self.last_error: str | None = None
        self.request: RenderRequest | None = None
        self._messages: list[Message] = []
        self._lock = threading.Lock()
        self._quiet_frames = 0
        self._closed = False
        self.failures: dict[
            object, str
        ] = {}  # part of the frame (a widget, "menu", ...) -> its error line, while it fails
        # (part, line) already logged with its traceback: the most recent LOGGED_LINES, so an error whose
        # text changes every frame (a number in it) cannot grow the set for as long as the app runs
        self._logged = LruCache(LOGGED_LINES)
        self.select_tab: str | None = None  # set to a side-panel tab name to open it next frame
        core = Renderer()
        self.renderer = AsyncRenderer(
            core, passes=("preview", "full") if self.cpu_mode else ("full",), on_result=GlfwWindow.wake
        )
        self.editor = Editor(self, core)
        self.panels: list[Widget] = [panel(self) for panel in PANELS]
        self.tabs: dict[str, list[Widget]] = {}  # the side panel's tabs in order, each with its panels
        for panel in self.panels:
            self.tabs.setdefault(panel.tab, []).append(panel)
        self.viewport = ViewportWidget(self)
        self.shortcuts = ShortcutsWidget(self)
        if settings_warning:
            self.notify(settings_warning, error=True)

    # --- services for widgets -----------------------------------------------------------------------
    @property
    def scale(self) -> float:
        return self.imgui.scale

    @property
    def fonts(self) -> dict:
        return self.imgui.fonts

    @property
    def window(self) -> GlfwWindow:
        return self.imgui.window

    def panel(self, kind: type[W]) -> W:
        """The panel instance of a widget class (for cross-panel actions such as shortcuts)."""
        return next(p for p in self.panels if isinstance(p, kind))

    def notify(self, text: str, error: bool = False) -> None:
        """Show a one-line message at the bottom of the view; safe from any thread."""
        with self._lock:
            if self._messages and self._messages[-1].text == text:
                self._messages[-1].time = time.monotonic()
            else:
                self._messages.append(Message(text, error, time.monotonic()))
                del self._messages[:-20]
        self.window.wake()

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def drop(self, path: str) -> None:
        """A file dropped on the window goes to the first panel that accepts it."""
        for panel in self.panels:
            if panel.accepts_drop(path):
                with self.contained(panel):
                    panel.drop(path)
                return
        self.notify(
            f"{path}: cannot open this file type (drop a checkpoint, a latent .npz, a session .json "
            "or a portrait photo)",
            error=True,
        )

    @property
    def loading(self) -> bool:
        """The requested model is not the one on screen yet."""
        return self.model is None or self.model.source != self.state.model.source

    # --- test and scripting API ---------------------------------------------------------------------
    def set_state(self, **sections: dict) -> None:
        """``app.set_state(view={"mode": "depth"}, edit={"psi": 0.5})``; ValueError on unknown names or bad values."""
        self.state.update(**sections)

    def read_framebuffer(self) -> np.ndarray:
        """Draw one frame and return it as (H, W, 3) uint8."""
        pixels = self.step_frame(capture=True)
        assert pixels is not None  # a capturing frame reads them
        return pixels

    @property
    def image_rect(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the rendered picture in framebuffer pixels."""
        io = imgui.get_io()
        sx, sy = io.display_framebuffer_scale.x, io.display_framebuffer_scale.y
        x0, y0, x1, y1 = self.viewport.image_rect
        return round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy)

    def wait_idle(self, timeout: float = 60.0) -> RenderResult:
        """Run frames until the picture for the current state is final and on screen; returns its result."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step_frame()
            result = self.result if self.last_error is None else None
            final = result is not None and result.request == self.request and result.quality == self.renderer.passes[-1]
            done = self.renderer.idle and self.request is not None and (self.last_error is not None or final)
            if done:
                self.step_frame()
                if self.last_error is not None:
                    raise RuntimeError(self.last_error)
                assert self.result is not None  # the final result was on screen a frame ago
                return self.result
            time.sleep(0.005)
        raise TimeoutError(f"the renderer did not finish within {timeout:.0f} s")

    # --- the frame ----------------------------------------------------------------------------------
    def step_frame(self, capture: bool = False, wait: float = 0.0) -> np.ndarray | None:
        """One UI frame. ``wait`` > 0 lets the event loop sleep (the interactive loop's pacing)."""
        self.window.poll_events(wait)
        self.pacer.frame_started(idle=wait >= self.pacer.idle_wait)
        for path in self.window.take_dropped_paths():
            self.drop(path)
        result = self.renderer.take_result()
        if result is not None:
            self._show(result)
        with self.contained(self.editor):
            self.editor.poll()
        self.imgui.begin_frame()
        self._draw()
        with self.contained(self.editor):
            self.editor.track()
            request = self.editor.request()
            if request != self.request:
                self._quiet_frames = 0
            self.request = request
            self.renderer.submit(request)
        self.imgui.end_frame()
        pixels = self.window.read_pixels() if capture else None
        self.imgui.present()
        self._track_activity(result is not None)
        return pixels

    def run(self) -> None:
        """The interactive loop, until the window is closed."""
        while not self.window.should_close:
            self.step_frame(wait=self.pacer.wait_seconds(self._busy))
        self.close()

    @property
    def _busy(self) -> bool:
        return self._quiet_frames < 10 or not self.renderer.idle or self.state.view.turntable

    def _track_activity(self, new_result: bool) -> None:
        io = imgui.get_io()
        active = (
            new_result
            or io.mouse_delta.x != 0
            or io.mouse_delta.y != 0
            or io.mouse_wheel != 0
            or any(io.mouse_down[i] for i in range(3))
            or imgui.is_any_item_active()
        )
        self._quiet_frames = 0 if active else self._quiet_frames + 1

    def _show(self, result: RenderResult) -> None:
        if result.error:
            self.last_error = result.error
            self.notify(result.error, error=True)
            if result.model is None and result.request.source == self.state.model.source:
                # The checkpoint could not be opened: go back to the last model that worked.
                fallback = self.model.source if self.model is not None else "bundled"
                if fallback != self.state.model.source:
                    self.state.model.source = fallback
            return
        self.last_error = None
        if result.image is not None:
            self.texture.upload(result.image)
            self.texture.set_smooth(result.request.target != "trigrid")
        if self.model != result.model:
            self.model = result.model
            self.window.set_title(f"{TITLE} - {result.model.name}")
            source = result.model.source
            if ModelSource.parse(source).path is not None:  # a file: remember it
                self.state.model.recent = [source] + [p for p in self.state.model.recent if p != source][:9]
        self.result = result

    @contextlib.contextmanager
    def contained(self, part: object) -> Iterator[None]:
        """Run one part of the frame (a widget, the menu bar, the editor's bookkeeping) so that an exception
        in it cannot take the app down: ImGui scopes it left open are closed, the traceback is logged once,
        the line is kept in :attr:`failures` (a panel shows it in its place) and shown as a message."""
        try:
            with recovering_scopes():
                yield
        except Exception as error:
            name = getattr(part, "title", "") or (part if isinstance(part, str) else type(part).__name__)
            line = f"{name}: internal error: {type(error).__name__}: {one_line(error)}"
            self.failures[part] = line
            if self._logged.peek((name, line)) is None:
                log.exception("%s failed; the app goes on without it this frame", name)
                self.notify(line, error=True)
            self._logged.get((name, line), lambda: True)
        else:
            self.failures.pop(part, None)

    def _run_panel(self, panel: Widget, show: bool) -> None:
        """One panel's frame, contained; a panel that failed shows its error line where it stopped drawing."""
        with self.contained(panel):
            panel(show)
        if show and panel in self.failures:
            hint(self.failures[panel], ERROR)

    def _draw(self) -> None:
        io = imgui.get_io()
        scale = self.scale
        menu_height = 0.0
        with self.contained("menu"):
            menu_height = self._menu_bar()
        width, height = io.display_size.x, io.display_size.y
        ui = self.state.ui
        ui.sidebar_width = min(max(ui.sidebar_width, SIDEBAR_RANGE[0]), SIDEBAR_RANGE[1], 0.6 * width / scale)
        sidebar = ui.sidebar_width * scale if ui.show_sidebar else 0.0
        fixed = (
            imgui.WindowFlags_.no_title_bar
            | imgui.WindowFlags_.no_move
            | imgui.WindowFlags_.no_resize
            | imgui.WindowFlags_.no_collapse
            | imgui.WindowFlags_.no_saved_settings
            | imgui.WindowFlags_.no_bring_to_front_on_focus
        )
        imgui.set_next_window_pos(imgui.ImVec2(0, menu_height))
        imgui.set_next_window_size(imgui.ImVec2(width - sidebar, height - menu_height))
        imgui.push_style_var(imgui.StyleVar_.window_padding, imgui.ImVec2(0, 0))
        # No background: the cleared framebuffer is the viewport's colour (one fewer full-screen fill).
        imgui.begin(
            "##viewport",
            flags=fixed
            | imgui.WindowFlags_.no_scrollbar
            | imgui.WindowFlags_.no_scroll_with_mouse
            | imgui.WindowFlags_.no_background,
        )
        imgui.pop_style_var()
        with self.contained(self.viewport):
            self.viewport(True)
        imgui.end()
        if sidebar > 0:
            imgui.set_next_window_pos(imgui.ImVec2(width - sidebar, menu_height))
            imgui.set_next_window_size(imgui.ImVec2(sidebar, height - menu_height))
            imgui.begin("##sidebar", flags=fixed)
            self._sidebar()
            imgui.end()
        else:
            for panel in self.panels:
                self._run_panel(panel, False)
        with self.contained("file browser"):
            draw_in_app_dialogs(scale)
        with self.contained(self.shortcuts):
            self.shortcuts(True)

    def _sidebar(self) -> None:
        """The tab grid, then the open tab's panels under collapsing headers; the other panels run hidden."""
        ui = self.state.ui
        if self.select_tab is not None:
            ui.tab, self.select_tab = self.select_tab, None
        if ui.tab not in self.tabs:
            ui.tab = next(iter(self.tabs))
        ui.tab = tab_grid(list(self.tabs), ui.tab)
        imgui.separator()
        for panel in self.panels:
            if panel.tab != ui.tab:
                self._run_panel(panel, False)
        with imgui_ctx.begin_child(f"##tab-{ui.tab}"):
            for panel in self.tabs[ui.tab]:
                flags = imgui.TreeNodeFlags_.default_open if panel.default_open else 0
                if imgui.collapsing_header(panel.title, flags):
                    with imgui_ctx.push_id(panel.title):
                        self._run_panel(panel, True)
                    imgui.spacing()
                else:
                    self._run_panel(panel, False)

    def _menu_bar(self) -> float:
        if not imgui.begin_main_menu_bar():
            return 0.0
        state = self.state
        if imgui.begin_menu("File"):
            checkpoint = self.panel(CheckpointWidget)
            if imgui.menu_item_simple("Open checkpoint...", "Ctrl+O"):
                checkpoint.browse()
            if imgui.menu_item_simple("Use the bundled model"):
                checkpoint.open("bundled")
            if imgui.begin_menu("Recent checkpoints", bool(state.model.recent)):
                for path in state.model.recent:
                    if imgui.menu_item_simple(path, None, False, Path(path).is_file()):
                        checkpoint.open(path)
                imgui.end_menu()
            imgui.separator()
            session = self.panel(SessionWidget)
            if imgui.menu_item_simple("Open session..."):
                session.browse()
            if imgui.menu_item_simple("Save session", None, False, "session" not in self.editor.busy):
                session.save()
            if imgui.menu_item_simple("Save session as...", None, False, "session" not in self.editor.busy):
                session.save_as()
            recent = session.recent()
            if imgui.begin_menu("Recent sessions", bool(recent)):
                for path in recent:
                    if imgui.menu_item_simple(str(path)):
                        self.editor.open_session(path)
                imgui.end_menu()
            imgui.separator()
            capture = self.panel(CaptureWidget)
            if imgui.menu_item_simple("Save view", "Ctrl+S", False, self.result is not None):
                capture.save_view()
            if imgui.menu_item_simple("Save full-resolution render", "Ctrl+Shift+S"):
                capture.save_full_render()
            imgui.separator()
            if imgui.menu_item_simple("Quit", "Ctrl+Q"):
                self.window.request_close()
            imgui.end_menu()
        if imgui.begin_menu("Edit"):
            history, idle = self.editor.history, self.editor.playback is None
            if imgui.menu_item_simple(
                f"Undo {history.undo_label or ''}".strip(), "Ctrl+Z", False, history.can_undo and idle
            ):
                self.editor.undo()
            if imgui.menu_item_simple(
                f"Redo {history.redo_label or ''}".strip(), "Ctrl+Shift+Z", False, history.can_redo and idle
            ):
                self.editor.redo()
            imgui.end_menu()
        if imgui.begin_menu("View"):
            for target in VIEW_TARGETS:
                if imgui.menu_item_simple(TARGET_NAMES[target], None, state.view.target == target):
                    state.view.target = target
            imgui.separator()
            if imgui.menu_item_simple("Side panel", "H", state.ui.show_sidebar):
                state.ui.show_sidebar = not state.ui.show_sidebar
            imgui.end_menu()
        if imgui.begin_menu("Help"):
            if imgui.menu_item_simple("Keyboard shortcuts", "F1", state.ui.show_help):
                state.ui.show_help = not state.ui.show_help
            imgui.end_menu()
        status = ModelSource.parse(state.model.source).describe() if self.model is None else self.model.name
        status = f"{status}  |  {self.device_name}"
        imgui.same_line(imgui.get_window_width() - imgui.calc_text_size(status).x - 16 * self.scale)
        imgui.text_disabled(status)
        menu_height = imgui.get_window_height()
        imgui.end_main_menu_bar()
        return menu_height

    def close(self) -> None:
        """Stop the render thread, remember the settings, close the window. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for panel in self.panels:
            panel.close()
        self.renderer.stop()
        if self.remember:
            self.state.ui.window_size = tuple(self.window.size)
            try:
                save_state(self.state)
            except OSError as error:
                print(f"warning: settings not saved ({error})")
        self.texture.delete()
        self.imgui.close()
