"""Render view panel: what the viewport shows and how (buffers, backdrop, volume slices)."""

from __future__ import annotations

from imgui_bundle import imgui

from panohead.views.images import AXES
from panohead.views.modes import MODES
from viz.ui import hint, label, radio_row
from viz.viewport_widget import MODE_NAMES, TARGET_TABS
from viz.widget import Widget

MODE_HELP = {
    "final": "The super-resolved image with the chosen background.",
    "raw": "The neural rendering before super-resolution (Eq. 3 composite, to RGB).",
    "mask": "I_m, the accumulated ray weight: white = head, black = background.",
    "depth": "Expected ray depth over the head: near is bright.",
    "normals": "Normals of the depth surface, camera space (red right, green up, blue towards you).",
    "background": "The background alone, as it sits behind the head.",
    "foreground": "The head without background; transparent pixels show the backdrop.",
    "density": "Opacity of a thin slab of the volume on an axis-aligned plane (G.sample).",
    "colour": "Colour features on that plane, with their opacity as transparency.",
}


class RenderViewWidget(Widget):
    title = "Render view"
    tab = "View"

    def __call__(self, show: bool) -> None:
        if not show:
            return
        view, scale = self.app.state.view, self.app.scale
        view.target = radio_row(view.target, list(TARGET_TABS.items()), "target")
        imgui.begin_disabled(view.target != "head")
        if imgui.begin_table("##modes", 2):
            for mode in MODES:
                imgui.table_next_column()
                if imgui.radio_button(f"{MODE_NAMES[mode]}##mode", view.mode == mode):
                    view.mode = mode
                imgui.set_item_tooltip(MODE_HELP[mode])
            imgui.end_table()
        imgui.end_disabled()
        if view.mode in ("density", "colour") and view.target == "head":
            label("Slice axis", scale)
            view.slice_axis = radio_row(view.slice_axis, [(a, a) for a in AXES], "slice-axis")
            label("Offset", scale)
            changed, value = imgui.slider_float("##slice-offset", view.slice_offset, -0.5, 0.5, "%+.3f")
            if changed:
                view.slice_offset = value
        label("Backdrop", scale)
        view.backdrop = radio_row(
            view.backdrop, [("checkerboard", "Checkerboard"), ("transparent", "Transparent")], "backdrop"
        )
        hint(MODE_HELP[view.mode] if view.target == "head" else "Inspector settings are in the Inspect tab.")
