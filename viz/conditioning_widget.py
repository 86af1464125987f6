"""Conditioning camera panel: the pose the mapping network sees (Sec. 3.1), separate from the view.

PanoHead conditions w on a camera so the generated identity matches the pose distribution of the
data; rendering from another camera then shows that same head from elsewhere. Changing the
conditioning camera changes the head itself, which artists can watch here.
"""

from __future__ import annotations

from imgui_bundle import imgui

from viz.ui import hint, label
from viz.widget import Widget

MODES = (("frontal", "Fixed frontal"), ("follow", "Follow the rendering camera"), ("custom", "Own yaw and pitch"))


class ConditioningWidget(Widget):
    title = "Conditioning camera"
    tab = "Camera"

    def __call__(self, show: bool) -> None:
        if not show:
            return
        cond, scale = self.app.state.conditioning, self.app.scale
        for value, text in MODES:
            if imgui.radio_button(f"{text}##cond", cond.mode == value):
                cond.mode = value
        if cond.mode == "custom":
            label("Yaw", scale)
            changed, value = imgui.slider_float("##cond-yaw", cond.yaw, -180.0, 180.0, "%.1f deg")
            if changed:
                cond.yaw = value
            label("Pitch", scale)
            changed, value = imgui.slider_float("##cond-pitch", cond.pitch, -89.0, 89.0, "%.1f deg")
            if changed:
                cond.pitch = value
        if cond.mode == "follow":
            hint("The head is re-synthesised for every new view, so orbiting is slower and the identity drifts.")
        else:
            hint(
                "Changes the head (identity, expression), not the view. "
                "The official demos condition on the frontal camera."
            )
