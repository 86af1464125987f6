"""Latent panel: the seed (step, drag, type, random), a w-space blend of two seeds, latent files."""

from __future__ import annotations

import random
from pathlib import Path

from imgui_bundle import imgui

from panohead.editing import Latent
from panohead.latent_file import LatentError, save_latent
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
        # The seeds shown while the head is not a seed (a file, a photo): picking one brings them back.
        self.seed, self.seed_b, self.blend = 0, 1, 0.0
        self.blend_enabled = False
        self._remember(app.state.edit.latent)

    def _remember(self, latent: Latent) -> None:
        if latent.seed is not None:
            self.seed = latent.seed
            if latent.seed_b is not None:
                self.seed_b, self.blend, self.blend_enabled = latent.seed_b, latent.blend, True
            else:
                self.blend = 0.0

    def use_seeds(self, seed: int | None = None, seed_b: int | None = None, blend: float | None = None) -> None:
        """Make the head the panel's seed (blended with its second seed when blending is on)."""
        self.seed = self.seed if seed is None else seed
        self.seed_b = self.seed_b if seed_b is None else seed_b
        self.blend = self.blend if blend is None else blend
        self.app.editor.change(latent=Latent.blended(self.seed, self.seed_b, self.blend))

    def step_seed(self, delta: int) -> None:
        self.use_seeds(seed=(self.seed + delta) % (MAX_SEED + 1))

    def random_seed(self) -> None:
        self.use_seeds(seed=random.randint(0, 99999))

    def accepts_drop(self, path: str) -> bool:
        return path.lower().endswith(".npz")

    def drop(self, path: str) -> None:
        self.open(path)

    def open(self, path: str) -> None:
        """Show the latent in ``path`` as the head, from a clean edit state (:meth:`viz.editor.Editor.open_head`)."""
        model = self.app.model
        if model is None:
            self.app.notify(f"{path}: wait for the model to load, then open the latent again", error=True)
            return
        try:
            latent = Latent.from_file(path, model.num_ws, model.w_dim, model.z_dim)
        except LatentError as error:
            self.app.notify(str(error), error=True)
            return
        self.app.editor.open_head(latent)

    def save(self) -> Path | None:
        """Write the on-screen head's ws (and its seeds) to the capture folder; returns the path."""
        app, edit = self.app, self.app.state.edit
        latent, result = edit.latent, app.result
        if result is None or result.ws is None:
            app.notify("nothing to save yet: wait for the first picture", error=True)
            return None
        if latent.seed is None:
            stem = f"latent_{Path(latent.label).stem}"
            extra = {}
        else:
            stem = f"latent_seed{latent.seed:04d}_psi{edit.psi:.2f}"
            extra = {"seed": latent.seed, "seed_b": latent.seed_b or self.seed_b, "blend": latent.blend}
        try:
            path = unique_path(output_folder(app.state.capture.folder), stem, ".npz")
            save_latent(path, result.ws, psi=edit.psi, **extra)
        except OSError as error:
            app.notify(f"{app.state.capture.folder}: cannot save the latent ({error.strerror or error})", error=True)
            return None
        app.notify(f"saved latent to {path}")
        return path

    def __call__(self, show: bool) -> None:
        latent, scale = self.app.state.edit.latent, self.app.scale
        self._remember(latent)
        if not show:
            return
        label("Seed", scale)
        spacing = imgui.get_style().item_spacing.x
        button = imgui.get_frame_height()
        random_width = imgui.calc_text_size("Random").x + imgui.get_style().frame_padding.x * 2
        imgui.set_next_item_width(imgui.get_content_region_avail().x - 2 * (button + spacing) - random_width - spacing)
        changed, seed = imgui.drag_int("##seed", self.seed, 0.1, 0, MAX_SEED)
        if changed:
            self.use_seeds(seed=seed)
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
        changed, self.blend_enabled = imgui.checkbox("Blend with seed", self.blend_enabled or self.blend > 0)
        if changed and not self.blend_enabled:
            self.use_seeds(blend=0.0)
        if self.blend_enabled:
            imgui.same_line()
            imgui.set_next_item_width(-1)
            changed, seed_b = imgui.input_int("##seed-b", self.seed_b)
            if changed:
                self.use_seeds(seed_b=min(max(seed_b, 0), MAX_SEED))
            label("Blend", scale)
            changed, value = imgui.slider_float("##blend", self.blend, 0.0, 1.0, "%.2f")
            if changed:
                self.use_seeds(blend=value)
            hint("Interpolates w between the two seeds (0 = first, 1 = second).")

        imgui.separator_text("Latent file")
        if latent.seed is None:
            imgui.text_colored(MUTED, f"using {latent.label}")
            imgui.same_line()
            if imgui.small_button("Use seeds"):
                self.use_seeds()
        submitted, self.path_text = path_field("latent-path", self.path_text, self.dialog, "Load a latent", FILTERS)
        if submitted:
            self.open(self.path_text)
        if imgui.button("Save latent"):
            self.save()
        imgui.set_item_tooltip("Writes ws (and the seeds) as .npz into the capture folder")
        if latent.seed is None:
            hint("A file with ws ignores truncation; one with only z is mapped with the current settings.")
