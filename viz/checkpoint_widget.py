"""Checkpoint panel: the bundled model, a file dialog or typed path, recent files, drag and drop."""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from panohead.model_source import CHECKPOINT_SUFFIXES, ModelSource
from viz.file_dialog import FileDialog, path_field
from viz.ui import MUTED, WARN, hint
from viz.widget import Widget

FILTERS = ["Checkpoints (.safetensors, .pkl)", "*.safetensors *.pkl", "All files", "*"]


class CheckpointWidget(Widget):
    title = "Checkpoint"
    tab = "Model"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.dialog = FileDialog()
        self.path_text = ""

    def open(self, source: str) -> None:
        """Switch to ``source`` ("bundled", "random:<preset>" or a path); the renderer loads it."""
        path = ModelSource.parse(source).path
        if path is not None:
            source = str(path.expanduser())
            if not Path(source).is_file():
                self.app.notify(f"{source}: checkpoint file not found", error=True)
                return
        self.app.state.model.source = source

    def browse(self) -> None:
        """The open dialog (File menu, Ctrl+O)."""
        self.dialog.open("Open a PanoHead checkpoint", FILTERS)

    def accepts_drop(self, path: str) -> bool:
        return path.lower().endswith(CHECKPOINT_SUFFIXES)

    def drop(self, path: str) -> None:
        self.open(path)

    def __call__(self, show: bool) -> None:
        if not show:
            chosen = self.dialog.poll()  # the File menu's dialog may finish while the panel is closed
            if chosen:
                self.open(chosen)
            return
        app, model = self.app, self.app.model
        imgui.push_font(app.fonts["bold"], 0.0)
        imgui.text(ModelSource.parse(app.state.model.source).describe() if model is None else model.name)
        imgui.pop_font()
        if app.loading and app.last_error is None:
            imgui.same_line()
            imgui.text_colored(WARN, "loading...")
        if model is not None:
            imgui.text_colored(
                MUTED,
                f"tri-grid: 3 grids x {model.grid_depth} planes, {model.plane_resolution}^2, "
                f"{model.plane_channels} channels",
            )
            imgui.text_colored(
                MUTED,
                f"neural {model.neural_resolution}^2 -> image {model.image_resolution}^2, "
                f"{model.parameters / 1e6:.1f} M parameters, on {model.device}",
            )
        if imgui.button("Use the bundled model"):
            self.open("bundled")
        submitted, self.path_text = path_field(
            "checkpoint-path", self.path_text, self.dialog, "Open a PanoHead checkpoint", FILTERS
        )
        if submitted:
            self.open(self.path_text)
        recent = app.state.model.recent
        if recent:
            imgui.text_colored(MUTED, "Recent")
            for path in recent[:8]:
                exists = Path(path).is_file()
                imgui.begin_disabled(not exists)
                if imgui.selectable(f"{Path(path).name}##{path}", path == app.state.model.source)[0]:
                    self.open(path)
                imgui.end_disabled()
                imgui.set_item_tooltip(path if exists else f"{path} (missing)")
        hint("Ours (.safetensors) or official PanoHead (.pkl). Tip: drop a checkpoint on the window.")
