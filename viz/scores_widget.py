"""Live scores panel: the mirrored-face score and multi-view consistency of the head on screen.

The head (model, latent, truncation, edits) is scored by :func:`panohead.browser.score_heads`, the
seed browser's scoring, on the render thread once it has stayed the same for ``SETTLE`` seconds, so
dragging a slider costs one scoring when the drag ends, not one per frame. The camera and view do
not change the head (unless it is conditioned on the rendering camera), so orbiting never rescores.
"""

from __future__ import annotations

import math
import time

import torch
from imgui_bundle import imgui

from panohead.browser import SeedScore, default_resolution, score_heads
from panohead.editing import Camera
from panohead.editing.state import compose
from viz.mirror_widget import verdict
from viz.renderer import Renderer
from viz.request import RenderRequest
from viz.ui import GOOD, MUTED, WARN, hint
from viz.widget import Widget

SETTLE = 0.3  # seconds the head must stay unchanged before it is scored


def head_key(request: RenderRequest) -> tuple:
    """What decides the head (the camera only when the head is conditioned on it): equal keys, equal scores."""
    edit = request.edit
    return request.source, edit if edit.follows_camera else edit.replace(camera=Camera())


def consistency_verdict(psnr: float) -> tuple[imgui.ImVec4, str]:
    if math.isnan(psnr):
        return MUTED, "no view sees its neighbour's surface"
    if psnr >= 25.0:
        return GOOD, "steady across views"
    return WARN, "changes as the camera turns"


class ScoresWidget(Widget):
    title = "Live scores"
    tab = "Inspect"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.score: SeedScore | None = None
        self.scored_key: tuple | None = None  # the head self.score belongs to
        self.wanted_key: tuple | None = None
        self.changed_at = 0.0
        self.in_flight = False

    @property
    def current(self) -> bool:
        """Whether the score shown belongs to the head on screen."""
        return self.score is not None and self.scored_key == head_key(self.app.editor.request())

    def _update(self) -> None:
        request = self.app.editor.request()
        key = head_key(request)
        if key != self.wanted_key:
            self.wanted_key, self.changed_at = key, time.monotonic()
        if self.in_flight or key == self.scored_key or time.monotonic() - self.changed_at < SETTLE:
            return
        resolution = default_resolution(self.app.device)
        self.in_flight = True

        def work(renderer: Renderer) -> SeedScore:
            generator, _ = renderer.model(request.source, request.device)
            seed = -1 if request.edit.latent.seed is None else request.edit.latent.seed
            with torch.inference_mode():
                ws, _ = compose(generator, request.edit)
                return score_heads(generator, ws, [seed], resolution=resolution)[0].score

        def done(score: SeedScore) -> None:
            self.in_flight, self.score, self.scored_key = False, score, key

        def failed() -> None:
            self.in_flight, self.scored_key = False, key  # do not retry the same head every frame

        self.app.editor.run_task("live scores", work, done, failed)

    def __call__(self, show: bool) -> None:
        if not show:
            return  # scores are computed only while someone looks at them
        self._update()
        score = self.score
        if score is None:
            imgui.text_colored(MUTED, "scoring the head...")
        else:
            colour, text = verdict(score.mirror)
            imgui.text("Mirrored face")
            imgui.same_line()
            imgui.text_colored(colour, f"{'n/a' if math.isnan(score.mirror) else f'{score.mirror:+.2f}'} ({text})")
            colour, text = consistency_verdict(score.consistency)
            imgui.text("Consistency")
            imgui.same_line()
            value = "n/a" if math.isnan(score.consistency) else f"{score.consistency:.1f} dB"
            imgui.text_colored(colour, f"{value} ({text})")
            if not self.current:
                imgui.text_colored(MUTED, "updating for the head on screen...")
        hint(
            "Mirrored face: how much the back of the head looks like its face seen in a mirror (1 = a copy, "
            "0 = unrelated). Consistency: PSNR between each of four views (yaw 0, 90, 180, 270) and its "
            "neighbour warped through the rendered depth; higher means the head keeps its look as it turns."
        )
