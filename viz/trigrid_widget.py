"""Tri-grid inspector panel (Sec. 3.2): how the 3 grids x D planes hold the head's features."""

from __future__ import annotations

from imgui_bundle import imgui

from panohead.views.images import COLORMAPS
from viz.ui import hint, label, radio_row
from viz.widget import Widget


class TrigridWidget(Widget):
    title = "Tri-grid inspector"
    tab = "Inspect"

    def __call__(self, show: bool) -> None:
        if not show:
            return
        app, scale = self.app, self.app.scale
        view, grid = app.state.view, app.state.trigrid
        channels = app.model.plane_channels if app.model is not None else 32
        depth = app.model.grid_depth if app.model is not None else 3
        if view.target != "trigrid" and imgui.button("Show in the view"):
            view.target = "trigrid"
        label("Colours", scale)
        grid.display = radio_row(grid.display, [("pca", "PCA to RGB"), ("channel", "One channel")], "display")
        if grid.display == "channel":
            label("Channel", scale)
            _, channel = imgui.slider_int("##channel", min(grid.channel, channels - 1), 0, channels - 1)
            grid.channel = channel
            label("Colour map", scale)
            index = COLORMAPS.index(grid.colormap)
            changed, index = imgui.combo("##colormap", index, list(COLORMAPS))
            if changed:
                grid.colormap = COLORMAPS[index]
        _, grid.all_planes = imgui.checkbox(f"All {depth} depth planes", grid.all_planes)
        if not grid.all_planes:
            label("Depth plane", scale)
            _, index = imgui.slider_int("##depth-index", min(grid.depth_index, depth - 1), 0, depth - 1)
            grid.depth_index = index
        imgui.separator_text("Continuous slice")
        offsets = list(grid.offsets)
        for axis, name in enumerate("xyz"):
            label(f"{name} offset", scale)
            _, offsets[axis] = imgui.slider_float(f"##offset-{name}", offsets[axis], -0.5, 0.5, "%+.3f")
        grid.offsets = tuple(offsets)
        hint(
            "Rows: the xy, xz and yz grids, each seen along its normal (z from the front, y from above, "
            "x from the subject's left). The last column interpolates between planes at the offset, as "
            "the renderer does: with D > 1 the face and the back of the head read different features."
        )
