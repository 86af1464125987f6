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

    def move(self, **fields) -> None:
        """Set fields of the head's camera (``yaw``, ``pitch``, ``radius``, ``fov``, ``look_at``)."""
        self.app.state.edit = self.app.state.edit.with_camera(**fields)

    def reset(self) -> None:
        """Front view at the model's default distance, FOV and pivot."""
        model = self.app.model
        self.app.state.view.turntable = False
        if model is None:
            self.move(yaw=0.0, pitch=0.0, radius=DEFAULT_RADIUS, look_at=DEFAULT_LOOK_AT, fov=DEFAULT_FOV)
        else:
            self.move(yaw=0.0, pitch=0.0, radius=model.camera_radius, look_at=model.look_at, fov=round(model.fov, 3))

    def preset(self, name: str) -> None:
        yaw, pitch = PRESETS[name]
        self.move(yaw=yaw, pitch=pitch)
        self.app.state.view.turntable = False

    def __call__(self, show: bool) -> None:
        camera, view = self.app.state.edit.camera, self.app.state.view
        if view.turntable:
            self.move(yaw=(camera.yaw + view.turntable_speed * imgui.get_io().delta_time) % 360.0)
        if not show:
            return
        camera, scale = self.app.state.edit.camera, self.app.scale
        label("Yaw", scale)
        changed, yaw = imgui.slider_float("##yaw", camera.yaw % 360.0, 0.0, 360.0, "%.1f deg")
        if changed:
            self.move(yaw=yaw)
        label("Pitch", scale)
        changed, value = imgui.slider_float("##pitch", camera.pitch, -89.0, 89.0, "%.1f deg")
        if changed:
            self.move(pitch=value)
        label("Radius", scale)
        changed, value = imgui.slider_float("##radius", camera.radius, *RADIUS_RANGE, "%.2f")
        if changed:
            self.move(radius=value)
        label("FOV", scale)
        changed, value = imgui.slider_float("##fov", camera.fov, 5.0, 45.0, "%.2f deg")
        if changed:
            self.move(fov=value)
        imgui.set_item_tooltip(
            f"Official convention (18.837 deg = focal 4.2647); focal now {focal_from_fov(camera.fov):.3f}"
        )
        label("Look at", scale)
        changed, look_at = imgui.drag_float3("##look-at", list(camera.look_at), 0.005, -1.0, 1.0, "%.3f")
        if changed:
            self.move(look_at=tuple(look_at))
        clicked = buttons_row(list(PRESETS), "preset")
        if clicked is not None:
            self.preset(list(PRESETS)[clicked])
        _, view.turntable = imgui.checkbox("Turntable", view.turntable)
        imgui.same_line()
        imgui.set_next_item_width(-1)
        changed, value = imgui.slider_float("##speed", view.turntable_speed, -180.0, 180.0, "%.0f deg/s")
        if changed:
            view.turntable_speed = value
        if imgui.button("Reset camera"):
            self.reset()
        hint("In the view: drag to orbit, wheel to zoom, double-click to reset.")
