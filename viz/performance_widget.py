"""Performance panel: UI and renderer frame rates, where the last render's time went, device, precision."""

from __future__ import annotations

import numpy as np
import torch
from imgui_bundle import imgui

from panohead.precision import RENDERING, RenderingPrecision
from viz.async_renderer import AsyncRenderer
from viz.ui import MUTED, WARN, disabled, hint, label, radio_row
from viz.widget import Widget

STAGES = ("load", "mapping", "tri-grid", "background", "render", "super-resolution", "slice", "inspector", "display")
HISTORY = 240


class PerformanceWidget(Widget):
    title = "Performance"
    tab = "Stats"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.frame_ms = np.zeros(HISTORY, dtype=np.float32)
        self.cursor = 0

    def __call__(self, show: bool) -> None:
        delta = imgui.get_io().delta_time
        self.frame_ms[self.cursor % HISTORY] = delta * 1000.0
        self.cursor += 1
        if not show:
            return
        app = self.app
        imgui.push_font(app.fonts["mono"], 0.0)
        imgui.text(f"UI        {app.pacer.fps:6.1f} FPS")
        imgui.text(f"Renderer  {renderer_rate(app.renderer)}")
        imgui.pop_font()
        ordered = np.roll(self.frame_ms, -(self.cursor % HISTORY))
        imgui.plot_lines(
            "##frame-times",
            ordered,
            overlay_text="UI frame time (ms)",
            scale_min=0.0,
            scale_max=max(50.0, float(ordered.max())),
            graph_size=imgui.ImVec2(-1, 48 * app.scale),
        )
        result = app.result
        if result is not None:
            imgui.separator_text(f"Last render ({result.quality})")
            if imgui.begin_table("##timings", 2, imgui.TableFlags_.sizing_stretch_prop):
                total = 0.0
                for stage in STAGES:
                    if stage in result.timings:
                        seconds = result.timings[stage]
                        total += seconds
                        imgui.table_next_column()
                        imgui.text(stage)
                        imgui.table_next_column()
                        imgui.text(f"{seconds * 1000:8.1f} ms")
                imgui.table_next_column()
                imgui.text_colored(MUTED, "total")
                imgui.table_next_column()
                imgui.text_colored(MUTED, f"{total * 1000:8.1f} ms")
                imgui.end_table()
            hint("Stages missing from the list came from the cache (e.g. mapping and tri-grid while orbiting).")
        imgui.separator_text("Device")
        imgui.text(app.device_name)
        if app.cpu_mode:
            threads = torch.get_num_threads()
            imgui.text_colored(
                MUTED, f"{threads} PyTorch thread{'s' if threads > 1 else ''}; previews at half resolution first"
            )
        label("Precision", app.scale)
        model = app.state.model
        # On a CPU the controls show what runs (fp32, no graphs) and cannot be changed; the CUDA choices are
        # kept in the settings for the next time the app runs on a GPU.
        precision, graphs = ("fp32", False) if app.cpu_mode else (model.precision, model.cuda_graphs)
        with disabled(app.cpu_mode):
            precision = radio_row(precision, [(p, p.upper()) for p in RENDERING], "precision")
            _, graphs = imgui.checkbox("CUDA graphs", graphs)
        if not app.cpu_mode:
            model.precision, model.cuda_graphs = precision, graphs
        imgui.text_colored(MUTED, precision_note(precision))
        graph_note(app.cpu_mode, graphs, result)
        skipped = app.renderer.dropped
        if skipped:
            imgui.text_colored(MUTED, f"{skipped} outdated frames skipped (the view changed before they were drawn)")


def renderer_rate(renderer: AsyncRenderer) -> str:
    """The renderer's frame rate while it renders; once idle, "idle" and the last rate measured (not 0 FPS)."""
    fps = renderer.fps
    if renderer.rendering and fps is not None:
        return f"{fps:6.1f} FPS"
    return "  idle" + (f" (last {fps:.1f} FPS)" if fps is not None else "")


def precision_note(precision: RenderingPrecision) -> str:
    """What the Precision choice changes, in one line (docs/performance.md has the measurements)."""
    if precision == "fp16":
        return "super-resolution and background in fp16; the rest fp32"
    return "fp32 weights and activations" + (", TF32 matmul/conv" if precision == "tf32" else "")


def graph_note(cpu_mode: bool, enabled: bool, result) -> None:
    """Under the CUDA graphs checkbox: what it does now, or why the graphs fell back to eager rendering."""
    if cpu_mode:
        hint("CUDA only: the CPU renders eagerly.")
    elif result is not None and result.graph_error and enabled:
        hint(f"CUDA graphs fell back to eager rendering: {result.graph_error}", WARN)
    elif enabled:
        replaying = result is not None and result.graphs
        hint(
            "render and super-resolution replayed from CUDA graphs"
            if replaying
            else "render and super-resolution are captured on the next head view"
        )
    else:
        hint("render and super-resolution launched kernel by kernel")
