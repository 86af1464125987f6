"""Truncation panel: psi pulls w towards the average w (quality vs diversity) for the first `cutoff` layers."""

from __future__ import annotations

from imgui_bundle import imgui

from viz.ui import hint, label
from viz.widget import Widget


class TruncationWidget(Widget):
    title = "Truncation"
    tab = "Model"

    def __call__(self, show: bool) -> None:
        if not show:
            return
        edit, editor, scale = self.app.state.edit, self.app.editor, self.app.scale
        label("Psi", scale)
        changed, value = imgui.slider_float("##psi", edit.psi, 0.0, 1.5, "%.2f")
        if changed:
            editor.change(psi=value)
        imgui.set_item_tooltip("Ctrl+click to type a value")
        num_ws = self.app.model.num_ws if self.app.model is not None else 14
        limited = edit.cutoff is not None
        changed, limited = imgui.checkbox("Only the first layers", limited)
        if changed:
            editor.change(cutoff=min(8, num_ws) if limited else None)
        if self.app.state.edit.cutoff is not None:
            imgui.same_line()
            imgui.set_next_item_width(-1)
            cutoff = self.app.state.edit.cutoff
            _, shown = imgui.slider_int("##cutoff", min(cutoff, num_ws), 1, num_ws, "%d layers")
            if shown != cutoff:
                editor.change(cutoff=shown)
        hint(
            "psi = 1 samples the full distribution; lower values trade diversity for quality "
            "(the paper uses 0.7). Truncating only the first layers keeps fine detail varied."
        )
