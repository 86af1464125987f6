"""Latent panel: the seed (step, drag, type, random), a w-space blend of two seeds, latent files."""

from __future__ import annotations

import random
from pathlib import Path

from imgui_bundle import imgui

from panohead.latent_file import save_latent
from viz.file_dialog import FileDialog, path_field
from viz.output_paths import output_folder, unique_path
from viz.ui import MUTED, hint, label
from viz.widget import Widget

MAX_SEED = 2**31 - 1
FILTERS = ["Latents (.npz, .safetensors)", "*.npz *.safetensors", "All files", "*"]


class LatentWidget(Widget):
    title = "Latent"
    tab = "Model"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.dialog = FileDialog()
        self.path_text = ""
        self.blend_enabled = app.state.latent.blend > 0

    def step_seed(self, delta: int) -> None:
        latent = self.app.state.latent
        latent.seed = (latent.seed + delta) % (MAX_SEED + 1)
        latent.file = ""

    def random_seed(self) -> None:
        self.app.state.latent.seed = random.randint(0, 99999)
        self.app.state.latent.file = ""

    def accepts_drop(self, path: str) -> bool:
        return path.lower().endswith(".npz")

    def drop(self, path: str) -> None:
        self.open(path)

    def open(self, path: str) -> None:
        """Show the latent in ``path`` as the head, from a clean edit state (:meth:`viz.editor.Editor.clear_edits`)."""
        self.app.state.latent.file = path
        self.app.editor.clear_edits()

    def save(self) -> Path | None:
        """Write the on-screen head's ws (and its seeds) to the capture folder; returns the path."""
        app, latent = self.app, self.app.state.latent
        result = app.result
        if result is None or result.ws is None:
            app.notify("nothing to save yet: wait for the first picture", error=True)
            return None
        if latent.file:
            stem = f"latent_{Path(latent.file).stem}"
        else:
            stem = f"latent_seed{latent.seed:04d}_psi{latent.psi:.2f}"
        extra = {} if latent.file else {"seed": latent.seed, "seed_b": latent.seed_b, "blend": latent.blend}
        try:
            path = unique_path(output_folder(app.state.capture.folder), stem, ".npz")
            save_latent(path, result.ws, psi=latent.psi, **extra)
        except OSError as error:
            app.notify(f"{app.state.capture.folder}: cannot save the latent ({error.strerror or error})", error=True)
            return None
        app.notify(f"saved latent to {path}")
        return path

    def __call__(self, show: bool) -> None:
        latent, scale = self.app.state.latent, self.app.scale
        if not show:
            return
        imgui.begin_disabled(bool(latent.file))
        label("Seed", scale)
        spacing = imgui.get_style().item_spacing.x
        button = imgui.get_frame_height()
        random_width = imgui.calc_text_size("Random").x + imgui.get_style().frame_padding.x * 2
        imgui.set_next_item_width(imgui.get_content_region_avail().x - 2 * (button + spacing) - random_width - spacing)
        changed, seed = imgui.drag_int("##seed", latent.seed, 0.1, 0, MAX_SEED)
        if changed:
            latent.seed = seed
        imgui.set_item_tooltip("Drag to scrub through seeds; double-click to type one")
        imgui.same_line()
        if imgui.arrow_button("##seed-down", imgui.Dir.left):
            self.step_seed(-1)
        imgui.same_line()
        if imgui.arrow_button("##seed-up", imgui.Dir.right):
            self.step_seed(+1)
        imgui.same_line()
        if imgui.button("Random"):
            self.random_seed()
        changed, self.blend_enabled = imgui.checkbox("Blend with seed", self.blend_enabled or latent.blend > 0)
        if changed and not self.blend_enabled:
            latent.blend = 0.0
        if self.blend_enabled:
            imgui.same_line()
            imgui.set_next_item_width(-1)
            changed, seed_b = imgui.input_int("##seed-b", latent.seed_b)
            if changed:
                latent.seed_b = min(max(seed_b, 0), MAX_SEED)
            label("Blend", scale)
            changed, value = imgui.slider_float("##blend", latent.blend, 0.0, 1.0, "%.2f")
            if changed:
                latent.blend = value
            hint("Interpolates w between the two seeds (0 = first, 1 = second).")
        imgui.end_disabled()

        imgui.separator_text("Latent file")
        if latent.file:
            imgui.text_colored(MUTED, f"using {Path(latent.file).name}")
            imgui.same_line()
            if imgui.small_button("Use seeds"):
                latent.file = ""
        submitted, self.path_text = path_field("latent-path", self.path_text, self.dialog, "Load a latent", FILTERS)
        if submitted:
            self.open(self.path_text)
        if imgui.button("Save latent"):
            self.save()
        imgui.set_item_tooltip("Writes ws (and the seeds) as .npz into the capture folder")
        if latent.file:
            hint("A file with ws ignores truncation; one with only z is mapped with the current settings.")
