"""Dear ImGui on a :class:`GlfwWindow`: context, input and drawing backend, fonts, theme, HiDPI scale.

We use imgui-bundle (maintained, current Dear ImGui 1.92 with dynamic fonts) and its pure-Python
glfw + OpenGL 3 backend, so nothing is compiled at install time; see README "Why imgui-bundle".
"""

from __future__ import annotations

from pathlib import Path

import glfw
import imgui_bundle
import OpenGL.GL as gl
from imgui_bundle import imgui, implot
from imgui_bundle.python_backends.glfw_backend import GlfwRenderer

from gui_utils.window import GlfwWindow

FONT_FOLDER = Path(imgui_bundle.__file__).resolve().parent / "assets" / "fonts"
BASE_FONT_SIZE = 15.0


class _Backend(GlfwRenderer):
    """imgui-bundle's glfw + OpenGL 3 backend, reading window sizes from :class:`GlfwWindow`'s
    callbacks instead of asking the X server twice per frame."""

    def __init__(self, window: GlfwWindow) -> None:
        super().__init__(window.handle)
        self.owner = window
        window.install_size_callback()
        self.scale_changed = False
        glfw.set_window_content_scale_callback(window.handle, self._on_content_scale)
        self._last_time = glfw.get_time()

    def _on_content_scale(self, _window, _x_scale: float, _y_scale: float) -> None:
        self.scale_changed = True

    def process_inputs(self) -> None:
        (width, height), (fb_width, fb_height) = self.owner.size, self.owner.framebuffer_size
        self.io.display_size = imgui.ImVec2(width, height)
        if width > 0 and height > 0:
            self.io.display_framebuffer_scale = imgui.ImVec2(fb_width / width, fb_height / height)
        now = glfw.get_time()
        self.io.delta_time = max(now - self._last_time, 1e-4)
        self._last_time = now


class ImguiWindow:
    """A window that draws one Dear ImGui frame per :meth:`begin_frame` / :meth:`end_frame` pair."""

    def __init__(self, title: str, width: int, height: int, visible: bool = True, vsync: bool = True) -> None:
        self.window = GlfwWindow(title, width, height, visible=visible, vsync=vsync)
        self.context = imgui.create_context()
        self.plot_context = implot.create_context()  # plots (the inversion panel's loss curve)
        io = imgui.get_io()
        io.set_ini_filename(None)  # the app remembers its own layout; no imgui.ini in the working folder
        self.backend = _Backend(self.window)
        self.fonts = self._load_fonts()
        self.scale = 0.0
        self._apply_scale(self.window.ui_scale)

    @staticmethod
    def _load_fonts() -> dict[str, imgui.ImFont | None]:
        """Roboto for text and Inconsolata for numbers, from imgui-bundle's assets (default font if absent)."""
        atlas = imgui.get_io().fonts
        fonts: dict[str, imgui.ImFont | None] = {}
        for name, path in {
            "text": FONT_FOLDER / "Roboto" / "Roboto-Regular.ttf",
            "bold": FONT_FOLDER / "Roboto" / "Roboto-Bold.ttf",
            "mono": FONT_FOLDER / "Inconsolata-Medium.ttf",
        }.items():
            fonts[name] = atlas.add_font_from_file_ttf(str(path), BASE_FONT_SIZE) if path.is_file() else None
        if fonts["text"] is None:
            fonts["text"] = atlas.add_font_default()
        imgui.get_io().font_default = fonts["text"]
        return fonts

    def _apply_scale(self, scale: float) -> None:
        """Theme sized for ``scale`` (:attr:`GlfwWindow.ui_scale`): fonts and every padding/rounding."""
        if scale == self.scale:
            return
        style = imgui.get_style()
        if self.scale == 0.0:
            self._theme(style)
        style.scale_all_sizes(scale / (self.scale or 1.0))  # sizes were last set for self.scale
        style.font_scale_dpi = scale
        self.scale = scale

    @staticmethod
    def _theme(style: imgui.Style) -> None:
        """Colours, paddings and roundings at scale 1."""
        imgui.style_colors_dark(style)
        style.window_rounding, style.frame_rounding, style.grab_rounding, style.tab_rounding = 4.0, 3.0, 3.0, 3.0
        style.window_border_size, style.frame_border_size = 0.0, 0.0
        style.window_padding, style.frame_padding, style.item_spacing = (10.0, 10.0), (8.0, 4.0), (8.0, 6.0)
        style.scrollbar_size = 12.0
        accent, accent_hover, accent_active = (0.26, 0.52, 0.86, 1.0), (0.33, 0.60, 0.94, 1.0), (0.20, 0.44, 0.78, 1.0)
        colours = {
            imgui.Col_.window_bg: (0.11, 0.115, 0.125, 1.0),
            imgui.Col_.child_bg: (0.0, 0.0, 0.0, 0.0),
            imgui.Col_.menu_bar_bg: (0.09, 0.095, 0.10, 1.0),
            imgui.Col_.frame_bg: (0.18, 0.19, 0.21, 1.0),
            imgui.Col_.frame_bg_hovered: (0.24, 0.25, 0.28, 1.0),
            imgui.Col_.frame_bg_active: (0.28, 0.30, 0.34, 1.0),
            imgui.Col_.header: (0.20, 0.21, 0.24, 1.0),
            imgui.Col_.header_hovered: (0.26, 0.28, 0.32, 1.0),
            imgui.Col_.header_active: (0.30, 0.32, 0.37, 1.0),
            imgui.Col_.button: (0.22, 0.23, 0.26, 1.0),
            imgui.Col_.button_hovered: accent_hover,
            imgui.Col_.button_active: accent_active,
            imgui.Col_.slider_grab: accent,
            imgui.Col_.slider_grab_active: accent_hover,
            imgui.Col_.check_mark: accent_hover,
            imgui.Col_.tab: (0.15, 0.16, 0.18, 1.0),
            imgui.Col_.tab_hovered: accent_hover,
            imgui.Col_.tab_selected: (0.22, 0.36, 0.56, 1.0),
            imgui.Col_.title_bg_active: (0.09, 0.095, 0.10, 1.0),
            imgui.Col_.separator: (0.22, 0.23, 0.26, 1.0),
        }
        for slot, colour in colours.items():
            style.set_color_(slot, imgui.ImVec4(*colour))
        style.font_size_base = BASE_FONT_SIZE

    def begin_frame(self) -> None:
        if self.backend.scale_changed:
            self._apply_scale(self.window.ui_scale)
            self.backend.scale_changed = False
        self.backend.process_inputs()
        imgui.new_frame()

    def end_frame(self, clear_colour: tuple[float, float, float] = (0.07, 0.075, 0.08)) -> None:
        """Draw the ImGui frame into the back buffer (call :meth:`present` to show it)."""
        imgui.render()
        width, height = self.window.framebuffer_size
        gl.glViewport(0, 0, width, height)
        gl.glClearColor(*clear_colour, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        self.backend.render(imgui.get_draw_data())

    def present(self) -> None:
        self.window.swap_buffers()

    def close(self) -> None:
        if self.context is not None:
            self.backend.shutdown()
            implot.destroy_context(self.plot_context)
            imgui.destroy_context(self.context)
            self.context = None
        self.window.close()
