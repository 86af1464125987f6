"""Style mixing panel: take a range of w rows from a second latent, for the head and for its background.

The backbone's rows split into coarse (4-8 px blocks: head shape), middle (16-32 px: features, hair
shape) and fine (64 px and up: colours) after StyleGAN; the background network has its own rows.
The view updates live while the ranges are dragged. The second latent is a seed, the head on screen
(frozen as it is now) or a latent file (a saved head or an inverted photo).
"""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from panohead.editing import Latent, Mixing
from panohead.latent_file import LatentError, load_latent
from viz.file_dialog import FileDialog, path_field
from viz.latent_widget import LatentWidget
from viz.ui import MUTED, buttons_row, hint, label, radio_row
from viz.widget import Widget

FILTERS = ["Latents (.npz, .safetensors)", "*.npz *.safetensors", "All files", "*"]
SOURCES = [("seed", "Seed"), ("head", "Head on screen"), ("file", "Latent file")]
GROUP_HINTS = {"coarse": "head shape", "middle": "features, hair shape", "fine": "colours"}


class MixingWidget(Widget):
    title = "Style mixing"
    tab = "Edit"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.dialog = FileDialog()
        self.path_text = ""
        self.seed = 1
        self.source = "seed"

    # --- actions (also used by tests) -----------------------------------------------------------------
    def mix(
        self,
        latent: Latent | None,
        layers: tuple[int, int] | None = None,
        background_layers: tuple[int, int] | None = None,
    ) -> None:
        """Mix ``latent`` into ``layers`` / ``background_layers`` (None keeps the current ranges; a first
        mix starts with the fine rows, i.e. B's colours). ``latent`` None stops mixing."""
        editor, model = self.app.editor, self.app.model
        if latent is None:
            editor.change(mixing=Mixing())
            return
        mixing = self.app.state.edit.mixing
        if mixing.latent is None and layers is None and model is not None:
            fine = next(group for group in model.layer_groups if group[0] == "fine")
            layers = fine[1:]
        editor.change(mixing=Mixing(latent, layers or mixing.layers, background_layers or mixing.background_layers))

    def freeze_head(self) -> None:
        """Use the head on screen (with its edits) as the second latent."""
        result = self.app.result
        if result is None or result.ws is None:
            self.app.notify("nothing to take yet: wait for the first picture", error=True)
            return
        self.mix(Latent.from_ws(result.ws, f"head of {self.app.state.edit.latent.label}"))

    def load(self, path: str) -> None:
        model = self.app.model
        if model is None:
            return
        try:
            loaded = load_latent(path, model.num_ws, model.w_dim, model.z_dim)
        except LatentError as error:
            self.app.notify(str(error), error=True)
            return
        if "ws" not in loaded:
            self.app.notify(f"{path}: holds only z; open it in the Latent panel, then use 'Head on screen'", error=True)
            return
        self.mix(Latent.from_ws(loaded["ws"][0], Path(path).name))

    # --- drawing ------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        if not show:
            return
        app, scale = self.app, self.app.scale
        model = app.model
        head = app.state.edit.latent
        if head.ws is not None:
            imgui.text_colored(MUTED, f"Head: {head.label} (explicit ws)")
            imgui.same_line()
            if imgui.small_button("Back to the Latent panel"):
                app.panel(LatentWidget).use_seeds()
        if model is None:
            imgui.text_disabled("Waiting for the model...")
            return
        mixing = self.app.state.edit.mixing
        changed, enabled = imgui.checkbox("Mix in a second latent", mixing.latent is not None)
        if changed:
            self.mix(Latent.from_seed(self.seed) if enabled else None)
        if mixing.latent is None:
            hint(
                "Takes chosen layers from another latent: coarse = head shape, middle = features and hair shape, "
                "fine = colours."
            )
            return
        self.source = radio_row(self.source, SOURCES, "mix-source")
        if self.source == "seed":
            label("Seed", scale)
            shown = mixing.latent.seed if mixing.latent.seed is not None else self.seed
            changed, seed = imgui.input_int("##mix-seed", shown)
            if changed:
                self.seed = max(0, seed)
                self.mix(Latent.from_seed(self.seed))
        elif self.source == "head":
            if imgui.button("Take the head on screen"):
                self.freeze_head()
            imgui.set_item_tooltip("Freezes the current head (with its edits) as the second latent")
        else:
            submitted, self.path_text = path_field("mix-latent", self.path_text, self.dialog, "Second latent", FILTERS)
            if submitted:
                self.load(self.path_text)
        imgui.text_colored(MUTED, f"Second latent: {mixing.latent.label}")
        self._rows(
            "Head layers",
            "head",
            mixing.layers,
            model.num_ws,
            model.layer_groups,
            lambda rows: self.mix(mixing.latent, layers=rows),
        )
        if model.has_background:
            self._rows(
                "Background layers",
                "bg",
                mixing.background_layers,
                model.background_num_ws,
                model.background_layer_groups,
                lambda rows: self.mix(mixing.latent, background_layers=rows),
            )
        hint("Rows are w layers from low to high resolution; the view updates while you drag.")

    def _rows(
        self, title: str, key: str, rows: tuple[int, int], count: int, groups: tuple[tuple[str, int, int], ...], apply
    ) -> None:
        imgui.separator_text(title)
        names = [name.capitalize() for name, _, _ in groups] + ["All", "None"]
        clicked = buttons_row(names, f"{key}-groups")
        if clicked is not None:
            apply(groups[clicked][1:] if clicked < len(groups) else ((0, count) if names[clicked] == "All" else (0, 0)))
        imgui.set_next_item_width(-1)
        changed, start, stop = imgui.drag_int_range2(
            f"##{key}-rows", rows[0], rows[1], 0.05, 0, count, "from row %d", "to %d"
        )
        if changed:
            apply((min(start, stop), max(start, stop)))
        covered = [f"{name} ({GROUP_HINTS[name]})" for name, first, end in groups if first < rows[1] and end > rows[0]]
        imgui.text_colored(MUTED, "from B: " + (", ".join(covered) if covered else "nothing"))
