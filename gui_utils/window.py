"""A glfw window with an OpenGL 3.3 core context, file drops, HiDPI scale and framebuffer read-back."""

from __future__ import annotations

import logging
import os
import sys

import glfw
import numpy as np
import OpenGL.GL as gl

log = logging.getLogger(__name__)


class WindowError(RuntimeError):
    """The window or its OpenGL context cannot be created; the message says what to check."""


def fit_to_screen(width: int, height: int) -> tuple[int, int]:
    """Shrink a requested size (the 1600x1000 default, or last session's on a bigger screen) to the primary
    monitor's work area, so the side panel and its tabs never start off-screen (a 1280x800 laptop)."""
    monitor = glfw.get_primary_monitor()
    if not monitor:
        return width, height
    _x, _y, area_width, area_height = glfw.get_monitor_workarea(monitor)
    if area_width <= 0 or area_height <= 0:
        return width, height
    # SCALE_TO_MONITOR enlarges the window by the content scale, except on macOS (sizes there are in points).
    scale = 1.0 if sys.platform == "darwin" else max(1.0, *glfw.get_monitor_content_scale(monitor))
    return min(width, int(area_width / scale)), min(height, int(area_height / scale))


class GlfwWindow:
    """Owns the glfw library, one window and its GL context (made current on this thread).

    glfw calls other than :meth:`wake` must come from the thread that created the window.
    """

    def __init__(self, title: str, width: int, height: int, visible: bool = True, vsync: bool = True) -> None:
        self.last_error = ""
        glfw.set_error_callback(self._on_error)
        if not glfw.init():
            display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "unset"
            raise WindowError(
                f"cannot open a window on display {display} ({self.last_error or 'glfw failed'}); "
                "run under a desktop session or Xvfb"
            )
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.SCALE_TO_MONITOR, True)  # HiDPI on X11 and Windows: size in logical pixels
        glfw.window_hint(glfw.VISIBLE, visible)
        width, height = fit_to_screen(width, height)
        self.handle = glfw.create_window(width, height, title, None, None)
        if not self.handle:
            glfw.terminate()
            raise WindowError(
                f"cannot create an OpenGL 3.3 core window ({self.last_error or 'glfw failed'}); update "
                "the graphics driver or set LIBGL_ALWAYS_SOFTWARE=1 for Mesa's software renderer"
            )
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        self.dropped_paths: list[str] = []
        glfw.set_drop_callback(self.handle, lambda _window, paths: self.dropped_paths.extend(paths))
        # Sizes are tracked by callbacks: querying them costs a round trip to the X server every frame.
        self.size: tuple[int, int] = glfw.get_window_size(self.handle)
        self.framebuffer_size: tuple[int, int] = glfw.get_framebuffer_size(self.handle)
        glfw.set_framebuffer_size_callback(self.handle, self._on_framebuffer_size)
        self.install_size_callback()

    def _on_error(self, code: int, description: bytes) -> None:
        """glfw reports problems here; keep the text for our own one-line errors and log it."""
        self.last_error = description.decode(errors="replace")
        log.debug("glfw error %d: %s", code, self.last_error)

    def install_size_callback(self) -> None:
        """(Re)install the window-size callback (an ImGui backend may have replaced it)."""
        glfw.set_window_size_callback(self.handle, self._on_size)

    def _on_size(self, _window, width: int, height: int) -> None:
        self.size = (width, height)

    def _on_framebuffer_size(self, _window, width: int, height: int) -> None:
        self.framebuffer_size = (width, height)

    @property
    def ui_scale(self) -> float:
        """How much to enlarge sizes given in logical pixels: the monitor's content scale (2.0 on most
        HiDPI screens) divided by what the framebuffer already scales (macOS's Retina framebuffers)."""
        x_scale, y_scale = glfw.get_window_content_scale(self.handle)
        framebuffer_scale = self.framebuffer_size[0] / max(1, self.size[0])
        return max(1.0, max(float(x_scale), float(y_scale)) / max(framebuffer_scale, 1.0))

    def set_title(self, title: str) -> None:
        glfw.set_window_title(self.handle, title)

    @property
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.handle))

    def request_close(self) -> None:
        glfw.set_window_should_close(self.handle, True)

    def take_dropped_paths(self) -> list[str]:
        paths, self.dropped_paths = self.dropped_paths, []
        return paths

    def poll_events(self, wait_seconds: float = 0.0) -> None:
        """Process input; with ``wait_seconds`` > 0 sleep until an event or the timeout (idle frames)."""
        if wait_seconds > 0:
            glfw.wait_events_timeout(wait_seconds)
        else:
            glfw.poll_events()

    @staticmethod
    def wake() -> None:
        """Interrupt :meth:`poll_events` waiting; safe to call from any thread (e.g. the renderer's)."""
        glfw.post_empty_event()

    def read_pixels(self) -> np.ndarray:
        """(H, W, 3) uint8 copy of the back buffer, top row first; call after drawing, before swapping."""
        width, height = self.framebuffer_size
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadBuffer(gl.GL_BACK)
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        gl.glReadPixels(0, 0, width, height, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, pixels)  # into ``pixels``
        return pixels[::-1].copy()

    def swap_buffers(self) -> None:
        glfw.swap_buffers(self.handle)

    def close(self) -> None:
        if self.handle is not None:
            glfw.destroy_window(self.handle)
            self.handle = None
            glfw.terminate()
