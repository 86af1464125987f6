"""Rendering camera panel: orbit angles, radius, FOV, look-at, presets and the turntable.

In the view: left-drag orbits, the wheel zooms, a double-click resets (see viewport_widget).
"""

from __future__ import annotations

from imgui_bundle import imgui

from panohead.camera import DEFAULT_LOOK_AT, DEFAULT_RADIUS, RADIUS_RANGE, focal_from_fov
from viz.state import DEFAULT_FOV
from viz.ui import buttons_row, hint, label
from viz.widget import Widget

# name -> (yaw, pitch). Left/right are the subject's: "Left" looks at the left side of the head (+x).
PRESETS = {"Front": (0.0, 0.0), "Left": (90.0, 0.0), "Back": (180.0, 0.0), "Right": (270.0, 0.0), "Top": (0.0, 80.0)}


class CameraWidget(Widget):
    title = "Rendering camera"
    tab = "Camera"

    def reset(self) -> None:
        """Front view at the model's default distance, FOV and pivot."""
        camera, model = self.app.state.camera, self.app.model
        camera.yaw, camera.pitch, camera.turntable = 0.0, 0.0, False
        if model is None:
            camera.radius, camera.look_at, camera.fov = DEFAULT_RADIUS, DEFAULT_LOOK_AT, DEFAULT_FOV
        else:
            camera.radius, camera.look_at, camera.fov = model.camera_radius, model.look_at, round(model.fov, 3)

    def preset(self, name: str) -> None:
        camera = self.app.state.camera
        camera.yaw, camera.pitch = PRESETS[name]
        camera.turntable = False

    def __call__(self, show: bool) -> None:
        camera = self.app.state.camera
        if camera.turntable:
            camera.yaw = (camera.yaw + camera.turntable_speed * imgui.get_io().delta_time) % 360.0
        if not show:
            return
        scale = self.app.scale
        label("Yaw", scale)
        changed, yaw = imgui.slider_float("##yaw", camera.yaw % 360.0, 0.0, 360.0, "%.1f deg")
        if changed:
            camera.yaw = yaw
        label("Pitch", scale)
        changed, value = imgui.slider_float("##pitch", camera.pitch, -89.0, 89.0, "%.1f deg")
        if changed:
            camera.pitch = value
        label("Radius", scale)
        changed, value = imgui.slider_float("##radius", camera.radius, *RADIUS_RANGE, "%.2f")
        if changed:
            camera.radius = value
        label("FOV", scale)
        changed, value = imgui.slider_float("##fov", camera.fov, 5.0, 45.0, "%.2f deg")
        if changed:
            camera.fov = value
        imgui.set_item_tooltip(
            f"Official convention (18.837 deg = focal 4.2647); focal now {focal_from_fov(camera.fov):.3f}"
        )
        label("Look at", scale)
        changed, look_at = imgui.drag_float3("##look-at", list(camera.look_at), 0.005, -1.0, 1.0, "%.3f")
        if changed:
            camera.look_at = tuple(look_at)
        clicked = buttons_row(list(PRESETS), "preset")
        if clicked is not None:
            self.preset(list(PRESETS)[clicked])
        _, camera.turntable = imgui.checkbox("Turntable", camera.turntable)
        imgui.same_line()
        imgui.set_next_item_width(-1)
        changed, value = imgui.slider_float("##speed", camera.turntable_speed, -180.0, 180.0, "%.0f deg/s")
        if changed:
            camera.turntable_speed = value
        if imgui.button("Reset camera"):
            self.reset()
        hint("In the view: drag to orbit, wheel to zoom, double-click to reset.")
