"""Keyboard shortcuts for the common actions, and the help overlay that lists them (F1 or ?)."""

from __future__ import annotations

from collections.abc import Callable

from imgui_bundle import imgui

from panohead.views.modes import MODES
from viz.background_widget import MODES as BACKGROUND_CHOICES
from viz.background_widget import BackgroundChoice, BackgroundWidget
from viz.camera_widget import CameraWidget
from viz.capture_widget import CaptureWidget
from viz.checkpoint_widget import CheckpointWidget
from viz.file_dialog import in_app_dialog_open
from viz.latent_widget import LatentWidget
from viz.state import VIEW_TARGETS
from viz.widget import Widget

Key = imgui.Key
REPEATING = (Key.left_arrow, Key.right_arrow, Key.up_arrow, Key.down_arrow, Key.left_bracket, Key.right_bracket)


class ShortcutsWidget(Widget):
    """Not a sidebar panel: reads the keyboard every frame and draws the overlay when asked."""

    def __init__(self, app) -> None:
        super().__init__(app)
        camera = lambda: app.panel(CameraWidget)  # noqa: E731
        latent = lambda: app.panel(LatentWidget)  # noqa: E731
        capture = lambda: app.panel(CaptureWidget)  # noqa: E731
        state = app.state
        # (keys shown, description, ctrl, shift, key, action)
        self.bindings: list[tuple[str, str, bool, bool, Key, Callable[[], None]]] = [
            ("F1 or ?", "show / hide this help", False, False, Key.f1, self.toggle_help),
            ("", "", False, True, Key.slash, self.toggle_help),
            ("Left / Right", "orbit 15 degrees", False, False, Key.left_arrow, lambda: self.turn(-15)),
            ("", "", False, False, Key.right_arrow, lambda: self.turn(15)),
            ("Up / Down", "pitch 5 degrees", False, False, Key.up_arrow, lambda: self.tilt(5)),
            ("", "", False, False, Key.down_arrow, lambda: self.tilt(-5)),
            ("1 2 3 4 5", "front, left, back, right, top view", False, False, Key._1, lambda: camera().preset("Front")),
            ("", "", False, False, Key._2, lambda: camera().preset("Left")),
            ("", "", False, False, Key._3, lambda: camera().preset("Back")),
            ("", "", False, False, Key._4, lambda: camera().preset("Right")),
            ("", "", False, False, Key._5, lambda: camera().preset("Top")),
            ("R", "reset the camera", False, False, Key.r, lambda: camera().reset()),
            ("T", "turntable on / off", False, False, Key.t, self.toggle_turntable),
            ("[ / ]", "previous / next seed", False, False, Key.left_bracket, lambda: latent().step_seed(-1)),
            ("", "", False, False, Key.right_bracket, lambda: latent().step_seed(1)),
            ("G", "random seed", False, False, Key.g, lambda: latent().random_seed()),
            ("V", "next render view (final, raw, mask, ...)", False, False, Key.v, self.next_mode),
            ("Tab", "head, tri-grid, mirror inspector", False, False, Key.tab, self.next_target),
            ("B", "cycle the background", False, False, Key.b, self.next_background),
            ("H", "hide / show the side panel", False, False, Key.h, self.toggle_sidebar),
            ("Ctrl+S", "save the view", True, False, Key.s, lambda: capture().save_view()),
            ("Ctrl+Shift+S", "save a full-resolution render", True, True, Key.s, lambda: capture().save_full_render()),
            ("Ctrl+O", "open a checkpoint", True, False, Key.o, lambda: app.panel(CheckpointWidget).browse()),
            ("Ctrl+Z", "undo the last edit", True, False, Key.z, app.editor.undo),
            ("Ctrl+Shift+Z", "redo", True, True, Key.z, app.editor.redo),
            ("Ctrl+Q", "quit", True, False, Key.q, app.window.request_close),
            ("Esc", "close this help", False, False, Key.escape, lambda: setattr(state.ui, "show_help", False)),
        ]

    # --- actions --------------------------------------------------------------------------------
    def toggle_help(self) -> None:
        self.app.state.ui.show_help = not self.app.state.ui.show_help

    def toggle_sidebar(self) -> None:
        self.app.state.ui.show_sidebar = not self.app.state.ui.show_sidebar

    def toggle_turntable(self) -> None:
        self.app.state.view.turntable = not self.app.state.view.turntable

    def turn(self, degrees: float) -> None:
        self.app.panel(CameraWidget).move(yaw=(self.app.state.edit.camera.yaw + degrees) % 360.0)

    def tilt(self, degrees: float) -> None:
        pitch = self.app.state.edit.camera.pitch + degrees
        self.app.panel(CameraWidget).move(pitch=min(89.0, max(-89.0, pitch)))

    def next_mode(self) -> None:
        view = self.app.state.view
        view.target, view.mode = "head", MODES[(MODES.index(view.mode) + 1) % len(MODES)]

    def next_target(self) -> None:
        view = self.app.state.view
        view.target = VIEW_TARGETS[(VIEW_TARGETS.index(view.target) + 1) % len(VIEW_TARGETS)]

    def next_background(self) -> None:
        panel = self.app.panel(BackgroundWidget)
        choices: list[BackgroundChoice] = [value for value, _ in BACKGROUND_CHOICES]
        choice = panel.choice()
        panel.choose(choices[(choices.index(choice) + 1) % len(choices)] if choice != "explicit" else choices[0])

    # --- per frame ------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        io = imgui.get_io()
        if not io.want_text_input and not in_app_dialog_open():
            for _, _, ctrl, shift, key, action in self.bindings:
                if io.key_ctrl == ctrl and io.key_shift == shift and imgui.is_key_pressed(key, key in REPEATING):
                    action()
        if show and self.app.state.ui.show_help:
            self._overlay()

    def _overlay(self) -> None:
        scale = self.app.scale
        viewport = imgui.get_main_viewport()
        imgui.set_next_window_pos(viewport.get_center(), imgui.Cond_.always, imgui.ImVec2(0.5, 0.5))
        imgui.set_next_window_bg_alpha(0.94)
        flags = (
            imgui.WindowFlags_.no_decoration
            | imgui.WindowFlags_.always_auto_resize
            | imgui.WindowFlags_.no_saved_settings
            | imgui.WindowFlags_.no_move
        )
        imgui.begin("Keyboard shortcuts", flags=flags)
        imgui.push_font(self.app.fonts["bold"], 0.0)
        imgui.text("Keyboard shortcuts")
        imgui.pop_font()
        imgui.separator()
        if imgui.begin_table("##shortcuts", 2, imgui.TableFlags_.sizing_fixed_fit):
            for keys, description, *_ in self.bindings:
                if not keys:
                    continue
                imgui.table_next_column()
                imgui.text_colored(imgui.ImVec4(0.55, 0.75, 1.0, 1.0), keys)
                imgui.table_next_column()
                imgui.text(description)
            imgui.end_table()
        imgui.separator()
        imgui.text_disabled("Mouse in the view: drag to orbit, wheel to zoom, double-click to reset.")
        imgui.text_disabled("Drop a checkpoint, a latent .npz or an image on the window to open it.")
        imgui.dummy(imgui.ImVec2(0, 2 * scale))
        imgui.end()
