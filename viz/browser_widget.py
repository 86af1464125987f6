"""Seed browser panel: thumbnails of a seed range ranked by artifacts; click one to open it in the view.

Each seed is rendered from four yaws and scored by :mod:`panohead.browser` (mirrored-face score,
multi-view consistency) on the render thread, one batch per task, so the live view gets its turn
between batches and the grid fills in as results come. Sorting, filtering and flagging happen on
the UI thread over the scores already in; exports go to the capture folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from gui_utils.texture import Texture
from panohead.browser import (
    LAYOUTS,
    SORT_KEYS,
    HeadViews,
    SeedScore,
    SheetLayout,
    SortKey,
    contact_sheet,
    default_batch,
    default_page,
    default_resolution,
    filtered,
    ranked,
    score_seeds,
    worst,
    write_table,
)
from panohead.editing import Latent
from panohead.errors import one_line
from panohead.images import save_image
from viz.output_paths import output_folder, unique_path
from viz.renderer import Renderer
from viz.ui import ERROR, MUTED, disabled, hint, label
from viz.widget import Widget

SORT_NAMES: dict[SortKey, str] = {"mirror": "Mirrored face", "consistency": "Consistency", "seed": "Seed"}
LAYOUT_NAMES: dict[SheetLayout, str] = {"front-back": "Front and back", "strip": "4-yaw strip"}
THUMBNAIL = 64  # texels per view; drawn at CELL logical pixels
CELL = 56.0


class BrowserWidget(Widget):
    title = "Seed browser"
    tab = "Browse"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.first, self.count = 0, default_page(app.device)
        self.layout: SheetLayout = "front-back"
        self.sort_key: SortKey = "mirror"
        self.worst_first = True
        self.max_mirror, self.min_consistency = 1.0, 0.0  # at these ends a filter keeps everything
        self.heads: dict[int, HeadViews] = {}
        self.textures: dict[int, Texture] = {}
        self.pending: list[int] = []
        self.source, self.psi, self.total = "", 0.7, 0  # the model and truncation of the scores, and how many
        self.in_flight = False
        self.generation = 0  # counts browses, so a batch of an earlier browse arriving late is dropped

    # --- the engine side, also the API the GUI tests use --------------------------------------------
    @property
    def done(self) -> bool:
        return not self.pending and not self.in_flight

    def start(self, first: int, count: int) -> None:
        """Browse seeds first .. first + count - 1 with the model and truncation on screen."""
        self.first, self.count = first, count
        self.stop()
        self.heads.clear()
        for texture in self.textures.values():
            texture.delete()
        self.textures.clear()
        self.pending = list(range(first, first + count))
        self.generation += 1
        self.source, self.psi, self.total = self.app.state.model.source, self.app.state.edit.psi, count

    def stop(self) -> None:
        self.pending = []

    def scores(self) -> list[SeedScore]:
        return [head.score for head in self.heads.values()]

    def flagged(self) -> frozenset[int]:
        return worst(self.scores())

    def ordered(self) -> list[SeedScore]:
        """The scores in, filtered and ranked as the panel shows them."""
        max_mirror = None if self.max_mirror >= 1.0 else self.max_mirror
        min_consistency = None if self.min_consistency <= 0.0 else self.min_consistency
        return ranked(filtered(self.scores(), max_mirror, min_consistency), self.sort_key, self.worst_first)

    def open_seed(self, seed: int) -> None:
        """Show ``seed`` in the view with the model and truncation it was browsed with, from a clean edit
        state (the head before is one undo away)."""
        self.app.state.model.source = self.source
        self.app.editor.open_head(Latent.from_seed(seed))
        self.app.editor.change(psi=self.psi)

    def export(self, kind: str) -> Path:
        """Write the table ("csv", "json") or the contact sheet ("sheet") of the shown order; returns the file."""
        folder = output_folder(self.app.state.capture.folder)
        order, flagged = self.ordered(), self.flagged()
        if kind == "sheet":
            path = unique_path(folder, "seed_sheet", ".png")
            save_image(path, contact_sheet([self.heads[s.seed] for s in order], self.layout, flagged))
        else:
            path = unique_path(folder, "seeds", f".{kind}")
            write_table(path, order, flagged)
        return path

    def _next_batch(self) -> None:
        if self.in_flight or not self.pending:
            return
        batch = default_batch(self.app.device)
        seeds, self.pending = self.pending[:batch], self.pending[batch:]
        source, device, psi, generation = self.source, str(self.app.device), self.psi, self.generation
        resolution = default_resolution(self.app.device)
        self.in_flight = True

        def work(renderer: Renderer) -> list[HeadViews]:
            generator, _ = renderer.model(source, device)
            return score_seeds(generator, seeds, psi, THUMBNAIL, resolution)

        def failed() -> None:
            self.in_flight, self.pending = False, []

        self.app.editor.run_task("browse", work, lambda heads: self._arrived(heads, generation), failed)

    def _arrived(self, heads: list[HeadViews], generation: int) -> None:
        self.in_flight = False
        if generation != self.generation:
            return  # a batch of the browse before
        if self.app.state.model.source != self.source:
            self.pending = []  # the model changed under the browse: its scores would mix two models
        for head in heads:
            self.heads[head.score.seed] = head

    def _texture(self, head: HeadViews) -> Texture:
        seed = head.score.seed
        if seed not in self.textures:
            self.textures[seed] = Texture()
            self.textures[seed].upload(np.concatenate(list(head.thumbnails), axis=1))
        return self.textures[seed]

    # --- drawing ------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        self._next_batch()
        if not show:
            return
        scale = self.app.scale
        label("First seed", scale)
        first = imgui.input_int("##first", self.first)[1]
        label("Seeds", scale)
        count = imgui.input_int("##count", self.count)[1]
        self.first, self.count = max(0, first), min(max(1, count), 10_000)
        if imgui.button("Browse" if self.done else "Restart"):
            self.start(self.first, self.count)
        imgui.same_line()
        with disabled(self.done):
            if imgui.button("Stop"):
                self.stop()
        imgui.same_line()
        imgui.text_colored(MUTED, f"{len(self.heads)} of {self.total} scored")
        self._controls(scale)
        self._grid(scale)
        self._exports()
        hint(
            "Mirrored face: 1 = the back of the head is a mirror copy of the face (PanoHead's known failure), "
            "0 = unrelated. Consistency (dB): how well each view predicts its 90-degree neighbour through the "
            "rendered depth; higher = steadier when the camera turns. Red: the worst tenth of either score."
        )

    def _controls(self, scale: float) -> None:
        label("Sort", scale)
        if imgui.begin_combo("##sort", SORT_NAMES[self.sort_key]):
            for key in SORT_KEYS:
                if imgui.selectable(SORT_NAMES[key], key == self.sort_key)[0]:
                    self.sort_key = key
            imgui.end_combo()
        self.worst_first = imgui.checkbox("Worst first", self.worst_first)[1]
        label("Show", scale)
        if imgui.begin_combo("##layout", LAYOUT_NAMES[self.layout]):
            for key in LAYOUTS:
                if imgui.selectable(LAYOUT_NAMES[key], key == self.layout)[0]:
                    self.layout = key
            imgui.end_combo()
        label("Mirror at most", scale)
        self.max_mirror = imgui.slider_float("##maxmirror", self.max_mirror, 0.0, 1.0, "%.2f")[1]
        label("Consistency", scale)
        self.min_consistency = imgui.slider_float("##mincons", self.min_consistency, 0.0, 40.0, "at least %.1f dB")[1]

    def _grid(self, scale: float) -> None:
        order, flagged = self.ordered(), self.flagged()
        views = LAYOUTS[self.layout]
        size = imgui.ImVec2(CELL * scale * len(views), CELL * scale)
        spacing = imgui.get_style().item_spacing.x
        columns = max(1, int((imgui.get_content_region_avail().x + spacing) // (size.x + spacing)))
        uv_step = 1.0 / 4
        if order:
            imgui.text_colored(MUTED, "seed: mirrored face | consistency (dB); red = among the worst")
        for index, score in enumerate(order):
            if index % columns:
                imgui.same_line()
            imgui.begin_group()
            texture = self._texture(self.heads[score.seed])
            if self.layout == "strip":
                clicked = imgui.image_button(f"##seed{score.seed}", texture.ref, size)
            else:  # front and back: the two halves of the strip, side by side
                half = imgui.ImVec2(size.x / 2, size.y)
                clicked = imgui.image_button(
                    f"##front{score.seed}", texture.ref, half, imgui.ImVec2(0, 0), imgui.ImVec2(uv_step, 1)
                )
                imgui.same_line(0, 0)
                clicked |= imgui.image_button(
                    f"##back{score.seed}", texture.ref, half, imgui.ImVec2(2 * uv_step, 0), imgui.ImVec2(3 * uv_step, 1)
                )
            if clicked:
                self.open_seed(score.seed)
            colour = ERROR if score.seed in flagged else MUTED
            mirror = "n/a" if math.isnan(score.mirror) else f"{score.mirror:.2f}"
            consistency = "n/a" if math.isnan(score.consistency) else f"{score.consistency:.1f}"
            imgui.text_colored(colour, f"{score.seed}: {mirror} | {consistency}")
            imgui.end_group()
        if not order and self.heads:
            hint("No seed passes the filters.", MUTED)

    def _exports(self) -> None:
        with disabled(not self.heads):
            choice = None
            for kind, text in (("csv", "Table (CSV)"), ("json", "Table (JSON)"), ("sheet", "Contact sheet")):
                if kind != "csv":
                    imgui.same_line()
                if imgui.button(text):
                    choice = kind
        if choice is not None:
            try:
                self.app.notify(f"wrote {self.export(choice)}")
            except (OSError, ValueError) as error:
                self.app.notify(one_line(error), error=True)

    def close(self) -> None:
        self.stop()
