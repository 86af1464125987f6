"""Compare mode: 2 to 4 panes side by side, in a grid or split by a wipe, all turned by the view's camera.

Each pane is the head on screen ("live": it follows every edit, optionally through another
checkpoint or an official .pkl, e.g. D = 1 next to D = 3), a snapshot of it (before/after an edit)
or a photo (an inversion's input next to its result). The panes are rendered by
:class:`panohead.compare.Comparison` on their own thread, which keeps one request in flight and
always renders the newest, so orbiting the view turns every pane together. While compare mode is
on, the view shows the comparison; captures write it as one PNG or as a turntable video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.compare import MAX_PANES, CompareLayout, Comparison, Pane
from panohead.editing import Camera, EditState
from panohead.errors import USER_ERRORS, one_line
from panohead.images import save_image
from viz.async_renderer import AsyncRenderer
from viz.camera_widget import CameraWidget
from viz.inversion_job import ALIGNED
from viz.inversion_widget import InversionWidget
from viz.output_paths import output_folder, unique_path
from viz.ui import MUTED, buttons_row, disabled, hint, label, radio_row
from viz.widget import Widget

log = logging.getLogger(__name__)
LAYOUT_NAMES: dict[CompareLayout, str] = {"side": "Side by side", "grid": "Grid", "wipe": "Wipe"}
KIND_NAMES = {"live": "live head", "frozen": "snapshot", "photo": "photo"}
TILE = 256  # pixels per pane side


@dataclass
class PaneSpec:
    """A pane as the panel edits it; :meth:`pane` turns it into the engine's value for a frame."""

    label: str
    kind: str  # "live", "frozen" or "photo"
    source: str = ""  # "live": a model other than the viewer's ("" = the viewer's)
    state: EditState | None = None  # "frozen": the head it holds
    photo: str = ""

    def pane(self, live: EditState, viewer_source: str) -> Pane:
        if self.kind == "photo":
            return Pane(self.label, photo=self.photo)
        if self.kind == "frozen":
            return Pane(self.label, self.source, self.state)
        return Pane(self.label, self.source or viewer_source, live)


@dataclass(frozen=True)
class CompareRequest:
    panes: tuple[Pane, ...]
    camera: Camera
    layout: CompareLayout
    wipe: float


@dataclass(frozen=True)
class ComparePicture:
    """What the comparison thread hands back (the fields AsyncRenderer reads: ``error``)."""

    request: CompareRequest
    image: np.ndarray | None
    error: str | None = None


class CompareWidget(Widget):
    title = "Compare"
    tab = "Compare"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.active = False
        self.layout: CompareLayout = "side"
        self.wipe = 0.5
        self.specs: list[PaneSpec] = [PaneSpec("live head", "live")]
        self.comparison = Comparison(app.device, TILE)
        self.worker = AsyncRenderer(self._render, on_result=GlfwWindow.wake)
        self.texture = Texture()
        self.picture: ComparePicture | None = None  # the one on screen
        self.checkpoint, self.photo = "", ""
        self.frames, self.fps = 60, 30
        self.video_progress: float | None = None

    # --- engine side, also the API the GUI tests use ------------------------------------------------
    def _render(self, request: CompareRequest, quality: str) -> ComparePicture:
        try:
            return ComparePicture(
                request, self.comparison.picture(request.panes, request.camera, request.layout, request.wipe)
            )
        except USER_ERRORS as error:
            return ComparePicture(request, None, one_line(error))
        except Exception as error:  # a bug: keep the app alive and say so
            log.exception("compare render failed")
            return ComparePicture(request, None, f"internal error: {type(error).__name__}: {one_line(error)}")

    def current_request(self) -> CompareRequest:
        live = self.app.state.edit
        panes = tuple(spec.pane(live, self.app.state.model.source) for spec in self.specs)
        return CompareRequest(panes, live.camera, self.layout if len(panes) > 1 else "side", self.wipe)

    @property
    def shown(self) -> bool:
        """Whether the picture on screen is the one for the current head, panes and camera."""
        return self.picture is not None and self.picture.request == self.current_request()

    def add_snapshot(self) -> None:
        """A pane holding the live head as it is now (compare it with later edits)."""
        self._add(PaneSpec(f"snapshot {len(self.specs)}", "frozen", self.app.state.model.source, self.app.state.edit))

    def add_checkpoint(self, path: str) -> None:
        """A pane showing the live head through another model (our .safetensors or an official .pkl)."""
        self._add(PaneSpec(path.rsplit("/", 1)[-1], "live", source=path))

    def inversion_photo(self) -> Path | None:
        """The aligned photo an inversion started from, when the model on screen is that inversion's."""
        photo = Path(self.app.state.model.source).parent / ALIGNED
        return photo if photo.is_file() else None

    def add_inversion_photo(self) -> None:
        """A pane with the inverted photo, the view turned to the photo's camera so result and photo line up."""
        photo, inversion = self.inversion_photo(), self.app.panel(InversionWidget)
        if photo is not None:
            self._add(PaneSpec("photo", "photo", photo=str(photo)))
            self.app.panel(CameraWidget).move(yaw=inversion.yaw % 360.0, pitch=inversion.pitch)

    def add_photo(self, path: str) -> None:
        self._add(PaneSpec(path.rsplit("/", 1)[-1], "photo", photo=path))

    def _add(self, spec: PaneSpec) -> None:
        if len(self.specs) >= MAX_PANES:
            self.app.notify(f"compare mode shows at most {MAX_PANES} panes; remove one first", error=True)
            return
        self.specs.append(spec)

    def capture(self) -> None:
        """Write the comparison on screen as a PNG in the capture folder (on the comparison thread)."""
        request, folder = self.current_request(), self.app.state.capture.folder

        def task() -> None:
            picture = self._render(request, "full")
            if picture.error:
                self.app.notify(picture.error, error=True)
                return
            try:
                path = unique_path(output_folder(folder), "compare", ".png")
                save_image(path, picture.image)
                self.app.notify(f"wrote {path}")
            except OSError as error:
                self.app.notify(one_line(error), error=True)

        self.worker.submit_task(task)

    def capture_video(self) -> None:
        """Write a turntable of the comparison (one orbit from the current camera) as .mp4."""
        request, folder, frames, fps = self.current_request(), self.app.state.capture.folder, self.frames, self.fps
        self.video_progress = 0.0

        def progress(fraction: float) -> None:
            self.video_progress = fraction
            GlfwWindow.wake()

        def task() -> None:
            try:
                path = unique_path(output_folder(folder), "compare_turntable", ".mp4")
                self.comparison.save_turntable(
                    path, request.panes, request.camera, request.layout, request.wipe, frames, fps, progress
                )
                self.app.notify(f"wrote {path}")
            except USER_ERRORS as error:
                self.app.notify(one_line(error), error=True)
            finally:
                self.video_progress = None

        self.worker.submit_task(task)

    # --- per frame ----------------------------------------------------------------------------------
    def _update(self) -> None:
        if not self.active:
            return
        result = self.worker.take_result()
        if result is not None:
            if result.error:
                self.app.notify(result.error, error=True)
            else:
                self.picture = result
                self.texture.upload(result.image)
        self.worker.submit(self.current_request())

    def __call__(self, show: bool) -> None:
        self._update()
        if not show:
            return
        scale = self.app.scale
        self.active = imgui.checkbox("Compare mode (the view shows every pane)", self.active)[1]
        self.layout = radio_row(self.layout, list(LAYOUT_NAMES.items()), "compare-layout")
        if self.layout == "wipe":
            label("Wipe", scale)
            self.wipe = imgui.slider_float("##wipe", self.wipe, 0.0, 1.0, "%.2f")[1]
        for index, spec in enumerate(list(self.specs)):
            imgui.push_id(f"pane{index}")
            imgui.set_next_item_width(160 * scale)
            spec.label = imgui.input_text("##label", spec.label)[1]
            imgui.same_line()
            where = spec.photo or spec.source or "this model"
            imgui.text_colored(MUTED, f"{KIND_NAMES[spec.kind]}, {where}")
            if index:
                imgui.same_line()
                if imgui.small_button("Remove"):
                    self.specs.pop(index)
            imgui.pop_id()
        with disabled(len(self.specs) >= MAX_PANES):
            if imgui.button("Add a snapshot of the live head"):
                self.add_snapshot()
            if self.inversion_photo() is not None:
                imgui.same_line()
                if imgui.button("Add the inverted photo"):
                    self.add_inversion_photo()
            label("Checkpoint", scale)
            self.checkpoint = imgui.input_text_with_hint("##ckpt", ".safetensors or official .pkl", self.checkpoint)[1]
            label("Photo", scale)
            self.photo = imgui.input_text_with_hint("##photo", "an image file", self.photo)[1]
            clicked = buttons_row(["Add checkpoint pane", "Add photo pane"], "compare-add")
        if clicked == 0 and self.checkpoint:
            self.add_checkpoint(self.checkpoint)
        elif clicked == 1 and self.photo:
            self.add_photo(self.photo)
        imgui.separator()
        label("Frames", scale)
        self.frames = max(2, min(imgui.input_int("##frames", self.frames)[1], 720))
        with disabled(not self.active or self.video_progress is not None):
            clicked = buttons_row(["Capture image", "Capture turntable"], "compare-capture")
        if clicked == 0:
            self.capture()
        elif clicked == 1:
            self.capture_video()
        if self.video_progress is not None:
            imgui.progress_bar(self.video_progress, imgui.ImVec2(-1, 0), "writing the turntable...")
        hint(
            "Orbit the view to turn every head together. A live pane follows the head on screen and its edits; "
            "a snapshot keeps the head as it was; a photo stays as taken. Captures go to the capture folder."
        )

    def close(self) -> None:
        self.worker.stop()
        self.texture.delete()
