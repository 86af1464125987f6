"""Latent directions panel: sliders along the model's principal directions and the user's own.

The principal directions (PCA of the model's w, computed once per checkpoint and cached beside it)
come from the render thread the first time the panel opens. Every slider moves the head in standard
deviations of w along its direction; a preview strip shows the head at -2, 0 and +2 from the front
and from behind. A principal direction can be kept under a name; named sets save to and load from
files (ours, or a .npy of shape (k, w_dim) / (w_dim,) found elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imgui_bundle import imgui

from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.checkpoint import CheckpointError
from panohead.editing import Direction, load_directions, save_directions
from panohead.editing.directions import amount_along, with_amount
from panohead.editing.mixing import GROUPS, LayerGroup
from panohead.editing.pca import PrincipalDirections, cached_principal_directions
from panohead.editing.preview import AMOUNTS, YAWS, direction_strip
from panohead.errors import one_line
from panohead.userdirs import resolve_output
from viz.file_dialog import FileDialog, path_field
from viz.output_paths import output_folder, unique_path
from viz.renderer import preview_resolution
from viz.ui import LABEL_WIDTH, MUTED, hint, label
from viz.widget import Widget

FILTERS = ["Directions (.safetensors, .npy)", "*.safetensors *.npy", "All files", "*"]
SAVE_FILTERS = ["Directions (.safetensors)", "*.safetensors"]
LIMIT = 4.0  # slider range in standard deviations
STRIP_WIDTH = 300.0  # logical pixels at scale 1
LAYER_CHOICES: tuple[LayerGroup | Literal["all rows"], ...] = ("all rows", *GROUPS)


@dataclass
class Strip:
    key: tuple
    texture: Texture
    size: tuple[int, int]


class DirectionsWidget(Widget):
    title = "Latent directions"
    tab = "Edit"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.principal: dict[str, PrincipalDirections] = {}  # by model source
        self.count = 6
        self.previewed: set[bytes] = set()  # vectors whose strip is open
        self.strips: dict[bytes, Strip] = {}
        self.open_dialog, self.save_dialog = FileDialog(), FileDialog()
        self.path_text = ""
        self.keep_name = ""
        self.pca_progress = 0.0  # share of the w samples drawn by the running PCA (written by the render thread)

    # --- principal directions -------------------------------------------------------------------------
    def pca(self) -> PrincipalDirections | None:
        model = self.app.model
        return None if model is None else self.principal.get(model.source)

    def request_pca(self) -> None:
        """Read or compute the model's principal directions on the render thread (once per model)."""
        model, editor = self.app.model, self.app.editor
        if model is None or model.source in self.principal or "pca" in editor.busy:
            return
        source, device = model.source, str(self.app.device)
        self.pca_progress = 0.0

        def progress(fraction: float) -> None:
            self.pca_progress = fraction
            GlfwWindow.wake()

        def work(renderer) -> PrincipalDirections:
            generator, _ = renderer.model(source, device)
            return cached_principal_directions(generator, progress=progress)[0]

        def done(pca: PrincipalDirections) -> None:
            self.principal[source] = pca

        editor.run_task("pca", work, done)

    # --- actions (also used by tests) -------------------------------------------------------------------
    def set_amount(self, direction: Direction, amount: float, layers: tuple[int, int] | None = None) -> None:
        editor = self.app.editor
        editor.change(directions=with_amount(self.app.state.edit.directions, direction, amount, layers))

    def keep(self, direction: Direction, name: str) -> None:
        """Add ``direction`` under ``name`` to the user's directions (kept in sessions, saved to files)."""
        directions = self.app.editor.directions
        named = direction.renamed(name.strip() or direction.name)
        directions[:] = [d for d in directions if d.vector != direction.vector] + [named]

    def load(self, path: str) -> int:
        """Add the directions in ``path`` (ours or .npy); returns how many, 0 after a one-line error."""
        model, pca = self.app.model, self.pca()
        if model is None:
            return 0
        try:
            loaded = load_directions(path, model.w_dim, None if pca is None else pca.covariance())
        except (CheckpointError, ValueError, OSError) as error:
            self.app.notify(one_line(error), error=True)
            return 0
        for direction in loaded:
            self.keep(direction, direction.name)
        self.app.notify(f"loaded {len(loaded)} direction(s) from {Path(path).name}")
        return len(loaded)

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the user's directions to ``path`` (default: a new file in the capture folder)."""
        directions = self.app.editor.directions
        if not directions:
            self.app.notify("no named directions to save: keep a principal direction or load some first", error=True)
            return None
        try:
            target = (
                Path(path)
                if path
                else unique_path(output_folder(self.app.state.capture.folder), "directions", ".safetensors")
            )
            save_directions(target, directions)
        except (OSError, ValueError) as error:
            self.app.notify(f"cannot save directions ({one_line(error)})", error=True)
            return None
        self.app.notify(f"saved {len(directions)} direction(s) to {target}")
        return target

    # --- preview strips ---------------------------------------------------------------------------------
    def strip_key(self, direction: Direction) -> tuple:
        """Everything a direction's strip depends on: the head without this direction, the camera but its yaw."""
        request = self.app.editor.request()
        edit = request.edit
        others = with_amount(edit.directions, direction, 0.0)
        head = edit.replace(directions=others).with_camera(yaw=0.0)
        return (request.source, head, direction.vector, direction.scale)

    def update_strips(self, directions: list[Direction]) -> None:
        """Render one stale strip at a time, only while the view itself is idle."""
        editor, app = self.app.editor, self.app
        if "strip" in editor.busy or not app.renderer.idle or app.model is None:
            return
        for direction in directions:
            if direction.vector.data not in self.previewed:
                continue
            key = self.strip_key(direction)
            strip = self.strips.get(direction.vector.data)
            if strip is not None and strip.key == key:
                continue
            request, cpu = editor.request(), app.cpu_mode
            resolution = preview_resolution(app.model.neural_resolution) if cpu else None

            def work(renderer, request=request, direction=direction, resolution=resolution):
                generator, _ = renderer.model(request.source, request.device)
                return direction_strip(generator, request.edit, direction, neural_resolution=resolution)

            def done(image, direction=direction, key=key):
                current = self.strips.get(direction.vector.data)
                texture = current.texture if current is not None else Texture()
                texture.upload(image)
                self.strips[direction.vector.data] = Strip(key, texture, image.shape[:2])

            editor.run_task("strip", work, done)
            return

    # --- drawing --------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        if not show:
            return
        app, scale = self.app, self.app.scale
        editor, model = app.editor, app.model
        chosen = self.open_dialog.poll()
        if chosen:
            self.load(chosen)
        chosen = self.save_dialog.poll()
        if chosen:
            self.save(chosen)
        if model is None:
            imgui.text_disabled("Waiting for the model...")
            return
        self.request_pca()
        pca = self.pca()
        shown: list[Direction] = []
        imgui.separator_text("Principal directions")
        if pca is None:  # the first time for this model: seconds on a CPU (then read from the cache)
            imgui.progress_bar(
                self.pca_progress,
                imgui.ImVec2(-1, 0),
                f"computing the principal directions of w: {self.pca_progress:.0%}",
            )
        else:
            label("Show", scale)
            _, self.count = imgui.slider_int("##pc-count", self.count, 1, min(20, model.w_dim), "%d directions")
            for direction in pca.top(self.count):
                shown.append(direction)
                share = "" if direction.explained is None else f"  {100 * direction.explained:.1f}%"
                self._slider(direction, direction.name + share, keepable=True)
        imgui.separator_text("Named directions")
        for index, direction in enumerate(list(editor.directions)):
            shown.append(direction)
            self._slider(direction, direction.name, keepable=False, index=index)
        if not editor.directions:
            imgui.text_colored(MUTED, "none yet: keep a principal direction, or load a file")
        imgui.text_colored(MUTED, "Load a file (ours, or a .npy of shape (k, w_dim) or (w_dim,)):")
        submitted, self.path_text = path_field(
            "directions-path", self.path_text, self.open_dialog, "Load directions", FILTERS
        )
        if submitted:
            self.load(self.path_text)
        if imgui.button("Save named directions..."):
            self.save_dialog.save(
                "Save directions",
                str(resolve_output(app.state.capture.folder) / "directions.safetensors"),
                SAVE_FILTERS,
            )
        imgui.same_line()
        if imgui.button("Reset all sliders"):
            editor.change(directions=())
        self.update_strips(shown)
        hint(
            "Amounts are standard deviations of w along each direction; double-click a slider to reset it. "
            "Directions move the head, not the background."
        )

    def _slider(self, direction: Direction, text: str, keepable: bool, index: int = -1) -> None:
        editor, model, scale = self.app.editor, self.app.model, self.app.scale
        vector = direction.vector.data
        imgui.push_id(f"{'pc' if keepable else 'named'}-{direction.name}-{index}")
        edit = next((e for e in self.app.state.edit.directions if e.direction.vector == direction.vector), None)
        amount = amount_along(self.app.state.edit.directions, direction)
        if imgui.calc_text_size(text).x > (LABEL_WIDTH - 8) * scale:
            imgui.text(text)  # a long name gets its own line
            imgui.set_next_item_width(-1)
        else:
            label(text, scale)
        changed, value = imgui.slider_float("##amount", amount, -LIMIT, LIMIT, "%+.2f sd")
        if imgui.is_item_hovered() and imgui.is_mouse_double_clicked(imgui.MouseButton_.left):
            changed, value = True, 0.0
        if changed:
            self.set_amount(direction, value, edit.layers if edit else None)
        opened = vector in self.previewed
        if imgui.small_button("hide preview" if opened else "preview"):
            self.previewed.symmetric_difference_update({vector})
        imgui.same_line()
        imgui.set_next_item_width(110 * scale)
        groups = {name: (start, stop) for name, start, stop in model.layer_groups}
        current = next((name for name, rows in groups.items() if edit is not None and edit.layers == rows), "all rows")
        imgui.begin_disabled(edit is None)
        changed, choice = imgui.combo("##layers", LAYER_CHOICES.index(current), list(LAYER_CHOICES))
        if changed:
            self.set_amount(direction, edit.amount, groups.get(LAYER_CHOICES[choice]))
        imgui.end_disabled()
        imgui.set_item_tooltip("Which w rows the offset moves (coarse = shape, fine = colours)")
        imgui.same_line()
        if keepable:
            name = self._name_popup("keep...", "Keep", direction.name)
            if name is not None:
                self.keep(direction, name)
        else:
            name = self._name_popup("rename...", "Rename", direction.name)
            if name is not None:
                self.rename(index, name)
            imgui.same_line()
            if imgui.small_button("remove"):
                self.set_amount(direction, 0.0)
                del editor.directions[index]
        if opened:
            self._strip(direction)
        imgui.pop_id()

    def _name_popup(self, button: str, action: str, current: str) -> str | None:
        """A small button opening a name field; the name typed once confirmed (Enter or ``action``)."""
        if imgui.small_button(button):
            self.keep_name = current
            imgui.open_popup(action)
        chosen = None
        if imgui.begin_popup(action):
            flags = imgui.InputTextFlags_.enter_returns_true
            entered, self.keep_name = imgui.input_text("name", self.keep_name, flags)
            if imgui.button(action) or entered:
                chosen = self.keep_name
                imgui.close_current_popup()
            imgui.end_popup()
        return chosen

    def rename(self, index: int, name: str) -> None:
        editor = self.app.editor
        old = editor.directions[index]
        renamed = old.renamed(name.strip() or old.name)
        editor.directions[index] = renamed
        edit = next((e for e in self.app.state.edit.directions if e.direction.vector == old.vector), None)
        if edit is not None:
            self.set_amount(renamed, edit.amount, edit.layers)

    def _strip(self, direction: Direction) -> None:
        strip = self.strips.get(direction.vector.data)
        if strip is None:
            imgui.text_colored(MUTED, "rendering the preview...")
            return
        height, width = strip.size
        shown = min(imgui.get_content_region_avail().x, STRIP_WIDTH * self.app.scale)
        imgui.image(strip.texture.ref, imgui.ImVec2(shown, shown * height / width))
        stale = strip.key != self.strip_key(direction)
        amounts = "  ".join(f"{a:+g}" for a in AMOUNTS)
        imgui.text_colored(
            MUTED,
            f"columns {amounts} sd; rows yaw {', '.join(f'{y:g}' for y in YAWS)}"
            + ("  (updating...)" if stale else ""),
        )
