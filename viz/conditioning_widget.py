"""Conditioning camera panel: the pose the mapping network sees (Sec. 3.1), separate from the view.

PanoHead conditions w on a camera so the generated identity matches the pose distribution of the
data; rendering from another camera then shows that same head from elsewhere. Changing the
conditioning camera changes the head itself, which artists can watch here.
"""

from __future__ import annotations

from typing import Literal

from imgui_bundle import imgui

from panohead.editing.state import FOLLOW_CAMERA
from viz.ui import hint, label
from viz.widget import Widget

ConditioningChoice = Literal["frontal", "follow", "custom"]
MODES: tuple[tuple[ConditioningChoice, str], ...] = (
    ("frontal", "Fixed frontal"),
    ("follow", "Follow the rendering camera"),
    ("custom", "Own yaw and pitch"),
)


class ConditioningWidget(Widget):
    title = "Conditioning camera"
    tab = "Camera"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.angles = (0.0, 0.0)  # the custom (yaw, pitch), kept while another mode is on
        self.custom = False  # "Own yaw and pitch" chosen, even while they are (0, 0)

    def mode(self) -> ConditioningChoice:
        conditioning = self.app.state.edit.conditioning
        if conditioning == FOLLOW_CAMERA:
            return "follow"
        if conditioning != (0.0, 0.0):
            self.angles, self.custom = conditioning, True
        return "custom" if self.custom else "frontal"

    def set_mode(self, mode: ConditioningChoice) -> None:
        self.custom = mode == "custom"
        conditioning = {"frontal": (0.0, 0.0), "follow": FOLLOW_CAMERA, "custom": self.angles}[mode]
        self.app.editor.change(conditioning=conditioning)

    def __call__(self, show: bool) -> None:
        if not show:
            return
        scale, mode = self.app.scale, self.mode()
        for value, text in MODES:
            if imgui.radio_button(f"{text}##cond", mode == value):
                self.set_mode(value)
        mode = self.mode()
        if mode == "custom":
            yaw, pitch = self.angles
            label("Yaw", scale)
            changed, yaw = imgui.slider_float("##cond-yaw", yaw, -180.0, 180.0, "%.1f deg")
            label("Pitch", scale)
            changed_pitch, pitch = imgui.slider_float("##cond-pitch", pitch, -89.0, 89.0, "%.1f deg")
            if changed or changed_pitch:
                self.angles = (yaw, pitch)
                self.app.editor.change(conditioning=self.angles)
        if mode == "follow":
            hint("The head is re-synthesised for every new view, so orbiting is slower and the identity drifts.")
        else:
            hint(
                "Changes the head (identity, expression), not the view. "
                "The official demos condition on the frontal camera."
            )
