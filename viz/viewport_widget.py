"""The large view on the left: the rendered picture, mouse orbit/zoom, labels, status and messages."""

from __future__ import annotations

import time

from imgui_bundle import imgui

from panohead.camera import RADIUS_RANGE
from panohead.views.modes import MODES, ViewMode
from viz.camera_widget import CameraWidget
from viz.compare_widget import CompareWidget
from viz.renderer import preview_resolution
from viz.state import VIEW_TARGETS, ViewTarget
from viz.ui import ERROR, MUTED, WARN
from viz.widget import Widget

TARGET_TABS: dict[ViewTarget, str] = {"head": "Head", "trigrid": "Tri-grid", "mirror": "Mirror"}
MODE_NAMES: dict[ViewMode, str] = {
    "final": "Final image",
    "raw": "Raw neural image",
    "mask": "Foreground mask",
    "depth": "Depth",
    "normals": "Normals (from depth)",
    "background": "Background only",
    "foreground": "Foreground only",
    "density": "Density slice",
    "colour": "Colour slice",
}
ORBIT_DEGREES_PER_PIXEL = 0.35
ZOOM_PER_WHEEL_STEP = 0.92
MESSAGE_SECONDS, ERROR_SECONDS = 4.0, 10.0
SPLITTER_WIDTH = 6.0  # logical pixels


def colour_u32(r: float, g: float, b: float, a: float = 1.0) -> int:
    return imgui.color_convert_float4_to_u32(imgui.ImVec4(r, g, b, a))


class ViewportWidget(Widget):
    """Not a sidebar panel: the app draws it every frame into the left-hand window."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.image_rect = (0.0, 0.0, 0.0, 0.0)  # picture position in window coordinates (for tests)

    def __call__(self, show: bool = True) -> None:
        scale = self.app.scale
        self._toolbar(scale)
        origin = imgui.get_cursor_screen_pos()
        avail = imgui.get_content_region_avail()
        status_height = imgui.get_frame_height() + 6 * scale
        splitter = SPLITTER_WIDTH * scale
        area = imgui.ImVec2(max(avail.x - splitter, 1.0), max(avail.y - status_height, 1.0))
        imgui.invisible_button("##view", area, imgui.ButtonFlags_.mouse_button_left)
        self._mouse(area)
        self._picture(origin, area, scale)
        self._messages(origin, area, scale)
        self._status_bar(scale)
        self._splitter(splitter, scale)

    # --- parts ----------------------------------------------------------------------------------
    def _toolbar(self, scale: float) -> None:
        state = self.app.state
        imgui.set_cursor_pos(imgui.ImVec2(10 * scale, 8 * scale))
        for index, target in enumerate(VIEW_TARGETS):
            if index:
                imgui.same_line()
            selected = state.view.target == target
            if selected:
                imgui.push_style_color(imgui.Col_.button, imgui.get_style().color_(imgui.Col_.tab_selected))
            if imgui.button(f"{TARGET_TABS[target]}##target"):
                state.view.target = target
            if selected:
                imgui.pop_style_color()
        if state.view.target == "head":
            imgui.same_line(0, 24 * scale)
            imgui.align_text_to_frame_padding()
            imgui.text_disabled("Show")
            imgui.same_line()
            imgui.set_next_item_width(190 * scale)
            index = MODES.index(state.view.mode)
            changed, index = imgui.combo("##mode", index, [MODE_NAMES[m] for m in MODES])
            if changed:
                state.view.mode = MODES[index]
        imgui.set_cursor_pos(imgui.ImVec2(0, imgui.get_cursor_pos().y + 4 * scale))

    def _mouse(self, area: imgui.ImVec2) -> None:
        """Left-drag orbits, the wheel zooms, a double-click resets the camera (head view only)."""
        state, io = self.app.state, imgui.get_io()
        if state.view.target == "trigrid":
            return
        camera, panel = state.edit.camera, self.app.panel(CameraWidget)
        if imgui.is_item_active() and imgui.is_mouse_dragging(imgui.MouseButton_.left, 0.0):
            panel.move(
                yaw=(camera.yaw - io.mouse_delta.x * ORBIT_DEGREES_PER_PIXEL) % 360.0,
                pitch=min(89.0, max(-89.0, camera.pitch + io.mouse_delta.y * ORBIT_DEGREES_PER_PIXEL)),
            )
        if imgui.is_item_hovered():
            if io.mouse_wheel:
                radius = state.edit.camera.radius * ZOOM_PER_WHEEL_STEP**io.mouse_wheel
                panel.move(radius=min(RADIUS_RANGE[1], max(RADIUS_RANGE[0], radius)))
            if imgui.is_mouse_double_clicked(imgui.MouseButton_.left):
                panel.reset()
            if imgui.is_item_active() or imgui.is_mouse_down(imgui.MouseButton_.left):
                imgui.set_mouse_cursor(imgui.MouseCursor_.resize_all)

    def _picture(self, origin: imgui.ImVec2, area: imgui.ImVec2, scale: float) -> None:
        app, draw = self.app, imgui.get_window_draw_list()
        compare = app.panel(CompareWidget)
        texture = compare.texture if compare.active else app.texture
        if (app.result is None and not compare.active) or texture.shape is None:
            text = "Loading the model..." if app.last_error is None else "No picture (see the message below)"
            if compare.active:
                text = "Rendering the comparison..."
            size = imgui.calc_text_size(text)
            draw.add_text(
                imgui.ImVec2(origin.x + (area.x - size.x) / 2, origin.y + (area.y - size.y) / 2),
                colour_u32(0.7, 0.72, 0.75),
                text,
            )
            self.image_rect = (0.0, 0.0, 0.0, 0.0)
            return
        height, width = texture.shape
        margin = 12 * scale
        fit = min((area.x - 2 * margin) / width, (area.y - 2 * margin) / height)
        shown_w, shown_h = width * fit, height * fit
        x0 = origin.x + (area.x - shown_w) / 2
        y0 = origin.y + (area.y - shown_h) / 2
        draw.add_image(texture.ref, imgui.ImVec2(x0, y0), imgui.ImVec2(x0 + shown_w, y0 + shown_h))
        self.image_rect = (x0, y0, x0 + shown_w, y0 + shown_h)
        for cell in [] if compare.active else app.result.cells:
            pos = imgui.ImVec2(x0 + cell.x0 * shown_w + 4 * scale, y0 + cell.y0 * shown_h + 3 * scale)
            size = imgui.calc_text_size(cell.label)
            if size.x > (cell.x1 - cell.x0) * shown_w - 8 * scale:
                continue  # tile too small for its label
            draw.add_rect_filled(
                imgui.ImVec2(pos.x - 3 * scale, pos.y - 1 * scale),
                imgui.ImVec2(pos.x + size.x + 3 * scale, pos.y + size.y + 1 * scale),
                colour_u32(0.0, 0.0, 0.0, 0.6),
                3 * scale,
            )
            draw.add_text(pos, colour_u32(0.92, 0.93, 0.95), cell.label)

    def _splitter(self, width: float, scale: float) -> None:
        """A strip along the right edge: drag it to resize the side panel."""
        ui = self.app.state.ui
        if not ui.show_sidebar:
            return
        imgui.set_cursor_pos(imgui.ImVec2(imgui.get_window_width() - width, 0))
        imgui.invisible_button("##splitter", imgui.ImVec2(width, imgui.get_window_height()))
        low, high = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        draw, centre = imgui.get_window_draw_list(), (low.x + high.x) / 2
        grabbed = imgui.is_item_hovered() or imgui.is_item_active()
        if grabbed:  # the whole handle lights up under the mouse; otherwise a hairline marks the edge
            imgui.set_mouse_cursor(imgui.MouseCursor_.resize_ew)
            colour = imgui.Col_.separator_active if imgui.is_item_active() else imgui.Col_.separator_hovered
            draw.add_rect_filled(low, high, imgui.get_color_u32(colour))
        else:
            draw.add_line(
                imgui.ImVec2(centre, low.y),
                imgui.ImVec2(centre, high.y),
                imgui.get_color_u32(imgui.Col_.separator),
                max(1.0, scale),
            )
        for offset in (-12, 0, 12):  # a grip in the middle says "drag me"
            y = (low.y + high.y) / 2 + offset * scale
            draw.add_circle_filled(imgui.ImVec2(centre, y), 1.6 * scale, colour_u32(0.55, 0.57, 0.62))
        if imgui.is_item_active():
            ui.sidebar_width = ui.sidebar_width - imgui.get_io().mouse_delta.x / scale

    def _messages(self, origin: imgui.ImVec2, area: imgui.ImVec2, scale: float) -> None:
        """The latest message (errors in red) floating at the bottom of the view, then fading out."""
        messages = self.app.messages()
        if not messages:
            return
        message = messages[-1]
        age = time.monotonic() - message.time
        if age > (ERROR_SECONDS if message.error else MESSAGE_SECONDS):
            return
        draw = imgui.get_window_draw_list()
        text = message.text
        size = imgui.calc_text_size(text)
        x = origin.x + max(8 * scale, (area.x - size.x) / 2)
        y = origin.y + area.y - size.y - 16 * scale
        background = (0.35, 0.08, 0.08, 0.92) if message.error else (0.12, 0.13, 0.15, 0.92)
        pad_x, pad_y = 10 * scale, 6 * scale
        draw.add_rect_filled(
            imgui.ImVec2(x - pad_x, y - pad_y),
            imgui.ImVec2(x + size.x + pad_x, y + size.y + pad_y),
            colour_u32(*background),
            5 * scale,
        )
        draw.add_text(imgui.ImVec2(x, y), colour_u32(1.0, 1.0, 1.0), text)

    def _status_bar(self, scale: float) -> None:
        app = self.app
        imgui.set_cursor_pos_x(10 * scale)
        camera = app.state.edit.camera
        result, model = app.result, app.model
        parts = []
        if app.state.view.target != "trigrid":
            parts.append(f"yaw {camera.yaw % 360:5.1f}  pitch {camera.pitch:+5.1f}  radius {camera.radius:.2f}")
        if result is not None and result.image is not None:
            parts.append(f"{result.image.shape[1]}x{result.image.shape[0]} px")
        imgui.align_text_to_frame_padding()
        left = "   |   ".join(parts)
        imgui.text_colored(MUTED, left)
        left_end = 10 * scale + imgui.calc_text_size(left).x + 24 * scale
        notes = []
        if app.loading and app.last_error is None:
            notes.append((WARN, "loading model..."))
        elif not app.renderer.idle:
            notes.append((MUTED, "rendering..."))
        if app.cpu_mode:
            if result is not None and result.quality == "preview" and model is not None:
                low = preview_resolution(model.neural_resolution)
                notes.append((WARN, f"CPU mode: preview at {low}x{low}, refining to full quality"))
            else:
                notes.append((MUTED, "CPU mode"))
        if app.last_error:
            notes.append((ERROR, "last render failed"))
        if notes:
            text = "   ".join(note for _, note in notes)
            width = imgui.calc_text_size(text).x + (len(notes) - 1) * 8 * scale
            imgui.same_line(max(left_end, imgui.get_window_width() - width - 14 * scale))
            for index, (colour, note) in enumerate(notes):
                if index:
                    imgui.same_line(0, 16 * scale)
                imgui.text_colored(colour, note)
