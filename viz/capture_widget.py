"""Capture panel: save what the view shows, or a fresh full-resolution render, as PNG (atomically)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from panohead.images import save_image
from panohead.userdirs import output_root, resolve_output
from viz.output_paths import output_folder, unique_path
from viz.renderer import RenderResult
from viz.request import RenderRequest, head_name
from viz.ui import MUTED, hint, label
from viz.widget import Widget


class CaptureWidget(Widget):
    title = "Capture"
    tab = "Output"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.last_saved: Path | None = None
        self.pending_full = False

    def _stem(self, what: str) -> str:
        state = self.app.state
        target = state.view.target
        detail = state.view.mode if target == "head" else target
        return f"{what}_{head_name(self.app.editor.request())}_yaw{state.edit.camera.yaw % 360:03.0f}_{detail}"

    def _write(self, result: RenderResult, stem: str, alpha: bool) -> Path | None:
        """PNG of ``result``: as displayed, or with the foreground mask as alpha."""
        if result.image is None or result.rgba is None:  # a failed render (its error is on screen)
            self.app.notify(f"nothing to save: {result.error or 'the render has no picture'}", error=True)
            return None
        try:
            path = unique_path(output_folder(self.app.state.capture.folder), stem, ".png")
            if alpha and result.mask is not None:
                rgba = result.rgba.copy()
                rgba[..., 3] = np.minimum(rgba[..., 3], (np.clip(result.mask, 0, 1) * 255 + 0.5).astype(np.uint8))
                save_image(path, rgba)
            elif alpha:
                save_image(path, result.rgba)
            else:
                save_image(path, result.image[..., :3])
        except OSError as error:
            self.app.notify(f"{self.app.state.capture.folder}: cannot save ({error.strerror or error})", error=True)
            return None
        self.last_saved = path
        self.app.notify(f"saved {path}")
        return path

    def save_view(self) -> Path | None:
        """The picture on screen, at the resolution it was rendered; while a CPU preview is still on screen
        (half the neural resolution, no super-resolution: 32x32 for the bundled model), the full-quality
        picture it refines to, rendered in the background. Returns the path when written at once."""
        result = self.app.result
        if result is None:
            self.app.notify("nothing to save yet: wait for the first picture", error=True)
            return None
        if result.quality == "preview":
            self._render_and_write(self.app.editor.request(), self._stem("view"), self.app.state.capture.alpha)
            return None
        return self._write(result, self._stem("view"), self.app.state.capture.alpha)

    def save_full_render(self) -> None:
        """Render the final image at the model's full resolution (even in CPU preview) and save it."""
        request = dataclasses.replace(self.app.editor.request(), target="head", mode="final", slice=None, trigrid=None)
        self._render_and_write(request, self._stem("render"), self.app.state.capture.alpha)

    def _render_and_write(self, request: RenderRequest, stem: str, alpha: bool) -> None:
        """Render ``request`` at full quality on the render thread, then save it."""
        self.pending_full = True

        def done(result: RenderResult) -> None:  # runs on the render thread
            self.pending_full = False
            if result.error:
                self.app.notify(f"full-resolution render failed: {result.error}", error=True)
            else:
                self._write(result, stem, alpha)

        self.app.renderer.submit_job(request, done)

    def __call__(self, show: bool) -> None:
        if not show:
            return
        capture, scale = self.app.state.capture, self.app.scale
        label("Folder", scale)
        _, capture.folder = imgui.input_text("##folder", capture.folder)
        _, capture.alpha = imgui.checkbox("Alpha channel from the foreground mask", capture.alpha)
        if imgui.button("Save view  (Ctrl+S)"):
            self.save_view()
        imgui.begin_disabled(self.pending_full)
        if imgui.button("Save full-resolution render  (Ctrl+Shift+S)"):
            self.save_full_render()
        imgui.end_disabled()
        if self.last_saved is not None:
            imgui.text_colored(MUTED, f"last: {self.last_saved}")
        hint(
            f"Files go to {resolve_output(capture.folder)} (a relative folder is under {output_root()}). "
            "'Save view' writes exactly what the view shows (refined, if a CPU preview is on screen); "
            "the full-resolution render is the final image at the model's output size, rendered at full quality. "
            "Files are never overwritten."
        )
