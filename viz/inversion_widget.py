"""Inversion panel: drop or open a portrait, check its crop and camera, reconstruct the 360-degree head.

Opening a photo detects and aligns the face on a helper thread (no face: the centred square is used
as a pre-aligned crop and the camera is set by hand). When the model has an encoder (a file picked in
the panel, or the one shipped with the bundled model), the same thread then predicts the head in one
forward pass and the viewer shows it at once (the "encoder preview", one undo step like any other head
change; a switch, kept in the settings, turns the encoder off). The photo is shown with its crop box
(:mod:`viz.crop_editor`): dragging it moves the crop, its mask and, for a photo with a face, the camera
(:mod:`panohead.inversion.photo_crop`); the corrections are remembered per photo content
(:mod:`panohead.inversion.corrections`). Crop and camera stay editable until "Invert" (or "Refine",
from the encoder's head, with fewer steps) starts both stages (:mod:`panohead.inversion`) on an
:class:`viz.inversion_job.Inversion` job, jointly with up to 7 more photos of the same head
from the strip below (each with its own editable camera, refined during the fit), with a live
preview and loss curve; the app keeps rendering meanwhile. When the job ends (finished or cancelled:
the best result so far), the tuned generator and its latent are written to a new folder under the
capture folder and loaded into the viewer, looking from the photo's camera: orbit, swap the
background or export it like any other head.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imgui_bundle import imgui, implot
from PIL import Image

from gui_utils.texture import Texture
from panohead.camera import focal_from_fov
from panohead.config import GeneratorConfig
from panohead.editing import Latent
from panohead.errors import USER_ERRORS, one_line
from panohead.inversion import SPACES, InversionSettings, Portrait, load_image
from panohead.inversion.corrections import Correction, CorrectionStore, photo_key
from panohead.inversion.photo_crop import PITCH_RANGE, YAW_RANGE, CropBox, PhotoCrop, locate_photo
from panohead.inversion.pipeline import MAX_PORTRAITS
from panohead.inversion.settings import Space, default_steps
from panohead.latent_file import LatentError
from panohead.model_source import ModelSource
from viz.crop_editor import CropEditor, orbit_glyph
from viz.file_dialog import FileDialog, path_field
from viz.inversion_job import EncoderPreview, EncoderPreviewer, Inversion, InversionOutputs, InversionTrace
from viz.jobs import Job
from viz.output_paths import output_folder, unique_path
from viz.ui import ERROR, GOOD, MUTED, WARN, duration, hint, label, radio_row
from viz.widget import Widget

log = logging.getLogger(__name__)
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
FILTERS = ["Photos", " ".join(f"*{s}" for s in PHOTO_SUFFIXES), "All files", "*"]
ENCODER_FILTERS = ["Encoders", "*.safetensors", "All files", "*"]
# Where the model that can represent real photos comes from (facts: the authors' README and
# docs/official_checkpoints.md).
OFFICIAL_MODEL_HELP = (
    "For real photos, open the released PanoHead model: its .pkl is in the models folder linked "
    "from github.com/SizheAn/PanoHead (project page sizhean.github.io/panohead). File > Open "
    "checkpoint reads it directly and safely: none of the code stored in it runs."
)


@dataclass
class MorePhoto:
    """Another photo of the head, inverted jointly with the first: its aligned crop and editable camera."""

    path: str
    base: PhotoCrop
    yaw: float
    pitch: float
    texture: Texture

    def portrait(self, config: GeneratorConfig) -> Portrait:
        return self.base.portrait(self.base.estimate, self.yaw, self.pitch, config)


class InversionWidget(Widget):
    title = "Photo to 3D head"
    tab = "Invert"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.dialog = FileDialog()
        self.path_text = ""
        self.photo_path: str | None = None
        self.base: PhotoCrop | None = None  # as aligned (or taken as is), before the user's corrections
        self.note = ""  # how the crop and camera were obtained
        self.note_is_warning = False
        self.box: CropBox | None = None  # the crop on the photo, as corrected
        self.yaw, self.pitch = 0.0, 0.0
        self.input_error = ""  # the last rejected correction, one line
        self.corrections = CorrectionStore()
        self._photo_key: str | None = None  # the photo's content hash: its corrections are kept under it
        self._remembered: Correction | None = None  # what the store holds for this photo
        self.editor = CropEditor()
        self.space = "z"
        self.steps, self.pti_steps = default_steps(app.device.type)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panohead-align")
        self._aligning: Future | None = None
        self._portrait_key: tuple | None = None
        self._portrait: Portrait | None = None
        self.more: list[MorePhoto] = []  # the strip: more photos of the same head
        self._adding: list[tuple[str, Future]] = []
        self.more_dialog = FileDialog()
        self.more_text = ""
        self.encoder_dialog = FileDialog()
        self.encoder_text = ""
        self.encoder_path: str | None = None  # picked by the user; None: the bundled model's own, if any
        self._previewer = EncoderPreviewer(app.device)
        self._previewing: Future | None = None
        self._preview_key: tuple | None = None  # what the newest encoder preview was asked for
        self.preview: EncoderPreview | None = None  # the encoder's head for the current photo
        self.encoder_error = ""
        self.preview_texture = Texture()
        self._preview_serial = -1
        self.job: Job[InversionOutputs] | None = None
        self.inversion: Inversion | None = None  # the job's work: its loss curves and preview
        self._applied = False  # the finished job's result has been loaded into the viewer
        self.base_source: str | None = None  # the model inverted into (not a previous inversion's output)
        self.outputs_made: set[str] = set()
        self._learnt: tuple[str, str | None] | None = None  # (source, what it was trained on), read once per source

    # --- actions (also the test API) ------------------------------------------------------------
    def config(self) -> GeneratorConfig:
        """Camera defaults of the model on screen (the paper's when none is loaded yet)."""
        model = self.app.model
        if model is None:
            return GeneratorConfig()
        return GeneratorConfig(
            camera_radius=model.camera_radius, look_at=tuple(model.look_at), focal=focal_from_fov(model.fov)
        )

    def open_photo(self, path: str) -> None:
        """Read ``path`` and start face detection in the background; errors go to the message line."""
        try:
            photo = load_image(path)
        except (ValueError, OSError) as error:
            self.app.notify(one_line(error), error=True)
            return
        self.photo_path, self.path_text = path, path
        self.base, self.box, self._portrait_key, self._portrait = None, None, None, None
        self._photo_key, self._remembered, self.input_error = None, None, ""
        self.note, self.note_is_warning = "detecting the face...", False
        self._aligning = self._executor.submit(self._align, path, photo, self.config(), self.corrections)
        self.app.select_tab = self.tab

    @staticmethod
    def _align(
        path: str, photo: Image.Image, config: GeneratorConfig, store: CorrectionStore | None
    ) -> tuple[PhotoCrop, str | None, Correction | None]:
        """The photo aligned, its content hash and the correction remembered for it (with a ``store``)."""
        base = locate_photo(photo, config)
        if store is None:
            return base, None, None
        try:
            key = photo_key(path)
        except OSError as error:  # gone or unreadable since it was opened: nothing to remember it by
            log.warning("%s: corrections not remembered (%s)", path, one_line(error))
            return base, None, None
        return base, key, store.get(key)

    def _aligned(self, base: PhotoCrop, key: str | None, remembered: Correction | None) -> None:
        """Show a freshly aligned photo, with the user's earlier correction of it when there is one."""
        self.base, self.note, self.note_is_warning = base, base.message, base.warning
        self.box, self.yaw, self.pitch = base.estimate, base.yaw, base.pitch
        self._photo_key, self._remembered = key, None
        self.editor.set_photo(base.photo)
        if remembered is not None:
            try:
                base.check(remembered.box)
            except ValueError as error:
                log.warning("%s: remembered crop ignored (%s)", self.photo_path, one_line(error))
                return
            self.box, self.yaw, self.pitch = remembered.box, remembered.yaw, remembered.pitch
            self._remembered = remembered
            self.note += "; your crop and camera from before are restored (Reset to estimate drops them)"

    def portrait(self) -> Portrait | None:
        """The target as corrected by the user (recomputed only when a correction changes)."""
        if self.base is None or self.box is None:
            return None
        key = (id(self.base), self.box, self.yaw, self.pitch, self.editor.mask_view)
        if key != self._portrait_key:
            self._portrait = self.base.portrait(self.box, self.yaw, self.pitch, self.config())
            self._portrait_key = key
            resolution = self._portrait.crop.size[0]
            self.editor.set_crop(np.asarray(self._portrait.crop), self.base.crop_mask(self.box, resolution))
        return self._portrait

    def move_box(self, box: CropBox) -> bool:
        """Put the crop at ``box`` (photo pixels): the crop, mask and, for a photo with a face, the camera
        follow. False with a one-line message in the panel when the box is not usable."""
        if self.base is None:
            return False
        try:
            self.base.check(box)
        except ValueError as error:
            self.input_error = one_line(error)
            return False
        self.box, self.input_error = box, ""
        camera = self.base.camera(box)
        if camera is not None:
            self.yaw, self.pitch = camera
        return True

    def set_camera(self, yaw: float, pitch: float) -> bool:
        """Set the camera by hand (degrees); False with a one-line message when out of range."""
        for name, value, (low, high) in (("yaw", yaw, YAW_RANGE), ("pitch", pitch, PITCH_RANGE)):
            if not low <= value <= high:
                self.input_error = f"{name} {value:g}: must lie between {low:g} and {high:g} degrees"
                return False
        self.yaw, self.pitch, self.input_error = yaw, pitch, ""
        return True

    def reset_to_estimate(self) -> None:
        """The alignment's crop and camera again; the remembered correction of this photo is dropped."""
        if self.base is None:
            return
        self.box, self.yaw, self.pitch, self.input_error = self.base.estimate, self.base.yaw, self.base.pitch, ""
        if self._photo_key is not None and self._remembered is not None:
            self._store(lambda: self.corrections.forget(self._photo_key or ""))
        self._remembered = None

    def _remember(self) -> None:
        """Keep the current correction for this photo (once the mouse lets go of it)."""
        if self.base is None or self.box is None or self._photo_key is None or self.editor.dragging:
            return
        current = Correction(self.box, self.yaw, self.pitch)
        estimate = Correction(self.base.estimate, self.base.yaw, self.base.pitch)
        if current == (self._remembered or estimate) or imgui.is_any_item_active():
            return
        key = self._photo_key
        self._remembered = current
        self._store(lambda: self.corrections.put(key, current))

    def _store(self, write) -> None:
        try:
            write()
        except OSError as error:
            self._photo_key = None  # said once; this photo's corrections stay in the panel only
            self.app.notify(f"{self.corrections.path}: cannot remember the photo's correction ({error})", error=True)

    def settings(self) -> InversionSettings:
        return InversionSettings(
            space=self.space, steps=self.steps, pti_steps=self.pti_steps, refine_cameras=bool(self.more)
        )

    def add_photo(self, path: str) -> None:
        """Add another photo of the same head to the strip (aligned in the background); errors go to the
        message line."""
        if 1 + len(self.more) + len(self._adding) >= MAX_PORTRAITS:
            self.app.notify(f"{path}: at most {MAX_PORTRAITS} photos of one head; remove one first", error=True)
            return
        try:
            photo = load_image(path)
        except (ValueError, OSError) as error:
            self.app.notify(one_line(error), error=True)
            return
        self._adding.append((path, self._executor.submit(self._align, path, photo, self.config(), None)))

    def remove_photo(self, index: int) -> None:
        self.more.pop(index).texture.delete()

    def _collect_added(self) -> None:
        for path, future in [entry for entry in self._adding if entry[1].done()]:
            self._adding.remove((path, future))
            try:
                base, _, _ = future.result()
            except Exception as error:
                self.app.notify(f"{path}: {one_line(error)}", error=True)
                continue
            photo = MorePhoto(path, base, base.yaw, base.pitch, Texture())
            photo.texture.upload(np.asarray(base.crop(base.estimate, self.config().image_resolution)))
            self.more.append(photo)
            if base.warning:
                self.app.notify(f"{Path(path).name}: {base.message}")

    def use_encoder(self, path: str | None) -> None:
        """Start inversions from the encoder at ``path`` (None: the bundled model's, if it ships one);
        the current photo's preview is predicted again."""
        self.encoder_path, self.encoder_text = path, path or ""
        self.encoder_error = ""

    def _encoder_preview(self) -> None:
        """Deliver a finished preview, and ask for one when the photo, its corrections, the model or the
        encoder changed (not while a control is held: a slider drag asks once, when released)."""
        if self._previewing is not None and self._previewing.done():
            future, self._previewing = self._previewing, None
            try:
                # a preview that finishes after the switch went off is dropped
                self._show_preview(future.result() if self.app.state.invert.use_encoder else None)
            except USER_ERRORS as error:
                self._show_preview(None, one_line(error))
            except Exception as error:  # a bug: say so in the panel, keep the app alive
                log.exception("encoder preview failed")
                self._show_preview(None, f"internal error: {type(error).__name__}: {one_line(error)}")
        if self._previewing is not None or self._aligning is not None or self.running or imgui.is_any_item_active():
            return
        if not self.app.state.invert.use_encoder:  # switched off: inversions start from the mean head
            self._preview_key = None
            if self.preview is not None or self.encoder_error:
                self._show_preview(None)
            return
        portrait = self.portrait()
        if portrait is None:
            return
        key = (self._portrait_key, self.model_source, self.encoder_path)
        if key != self._preview_key:
            self._preview_key = key
            self._previewing = self._executor.submit(self._previewer, key[1], key[2], portrait, key)

    def _show_preview(self, preview: EncoderPreview | None, error: str = "") -> None:
        """Show the encoder's head in the viewer from the photo's camera; its steps and space become the
        panel's defaults while an encoder is in use (and the plain ones again when it is not)."""
        had_encoder = self.preview is not None
        self.preview, self.encoder_error = preview, error
        if (preview is not None) != had_encoder:
            self.steps, self.pti_steps = default_steps(self.app.device.type, preview is not None)
            self.space = "w+" if preview is not None else "z"
        if preview is None:
            return
        state = self.app.state
        state.model.source = preview.source
        self.app.editor.use_latent(preview.ws, "encoder preview")
        state.edit = state.edit.with_camera(yaw=self.yaw % 360.0, pitch=self.pitch)
        state.view.turntable = False

    def start(self) -> bool:
        """Run both stages on the current portrait; False (with a message) when that is not possible."""
        portrait = self.portrait()
        if portrait is None or self.running:
            self.app.notify("open a photo first" if portrait is None else "an inversion is already running", error=True)
            return False
        portraits = [portrait] + [photo.portrait(self.config()) for photo in self.more]
        source = self.model_source
        try:
            folder = unique_path(
                output_folder(self.app.state.capture.folder) / "inversions", Path(self.photo_path or "photo").stem, ""
            )
        except OSError as error:
            self.app.notify(f"{self.app.state.capture.folder}: cannot create the output folder ({error})", error=True)
            return False
        self.base_source = source
        self._applied = False
        encoder = self.preview.encoder if self.preview is not None and self.preview.source == source else None
        self.inversion = Inversion(source, self.app.device, portraits, self.settings(), folder, encoder)
        self.job = Job.start("inversion", self.inversion, self.app.window.wake)
        return True

    @property
    def model_source(self) -> str:
        """The model an inversion fits: the one on screen, or the original one when that is a previous result."""
        source = self.app.state.model.source
        if source in self.outputs_made and self.base_source is not None:
            return self.base_source
        return source

    def model_mismatch(self) -> tuple[str, bool] | None:
        """(line, is a warning) when the model an inversion would use cannot represent a real photo, or does
        not record whether it can, read from its training record; None when it was trained on photos."""
        source = self.model_source
        if self._learnt is None or self._learnt[0] != source:
            self._learnt = (source, ModelSource.parse(source).training_data())
        learnt, name = self._learnt[1], ModelSource.parse(source).describe()
        if learnt == "photos":
            return None
        if learnt is None:
            return (
                f"This model ({name}) does not record what it was trained on: unless that was real photos, a "
                "photo comes out as a blob.",
                False,
            )
        why = "was trained on synthetic heads" if learnt == "synthetic" else "is untrained"
        return f"This model ({name}) {why}: it cannot represent a real photo (inverting one gives a blob).", True

    def cancel(self) -> None:
        """Stop the inversion at its next step; it still saves the best result so far."""
        if self.job is not None:
            self.job.cancel()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def accepts_drop(self, path: str) -> bool:
        return path.lower().endswith(PHOTO_SUFFIXES)

    def drop(self, path: str) -> None:
        self.open_photo(path)

    # --- per frame --------------------------------------------------------------------------------
    def _poll(self) -> Job[InversionOutputs] | None:
        if self._aligning is not None and self._aligning.done():
            try:
                self._aligned(*self._aligning.result())
            except Exception as error:
                self.note, self.note_is_warning = one_line(error), True
            self._aligning = None
        self._remember()
        self._collect_added()
        self._encoder_preview()
        job, inversion = self.job, self.inversion
        if job is None or inversion is None:
            return None
        trace = inversion.trace
        if trace.preview is not None and trace.preview_serial != self._preview_serial:
            self.preview_texture.upload(trace.preview)
            self._preview_serial = trace.preview_serial
        if job.status == "failed" and not self._applied:
            self._applied = True
            self.app.notify(f"inversion failed: {job.error}", error=True)
        if job.status == "done" and job.value is not None and not self._applied:
            self._applied = True
            self._load_result(job.value)
        return job

    def _load_result(self, outputs: InversionOutputs) -> None:
        """Point the viewer at the tuned generator and its latent, seen from the photo's camera."""
        state = self.app.state
        self.outputs_made.add(str(outputs.generator))
        model = self.app.model
        try:
            latent = Latent.from_file(outputs.latent, model.num_ws, model.w_dim, model.z_dim)
        except (LatentError, AttributeError) as error:
            self.app.notify(f"{outputs.latent}: cannot show the inverted latent ({one_line(error)})", error=True)
            return
        # The photo's head as inverted, from its camera: no mixing or directions from before.
        self.app.editor.open_head(latent)
        state.edit = state.edit.with_camera(yaw=self.yaw % 360.0, pitch=self.pitch)
        state.view.turntable = False
        state.model.source = str(outputs.generator)
        state.view.target, state.view.mode = "head", "final"
        ended = "cancelled, best result so far" if outputs.cancelled else "done"
        self.app.notify(f"inversion {ended}: loaded {outputs.folder} (drag the view to orbit)")

    def __call__(self, show: bool) -> None:
        job = self._poll()
        if not show:
            chosen = self.dialog.poll()
            if chosen:
                self.open_photo(chosen)
            return
        scale = self.app.scale
        mismatch = self.model_mismatch()
        if mismatch is not None:
            hint(mismatch[0], WARN if mismatch[1] else MUTED)
            hint(OFFICIAL_MODEL_HELP)
        label("Photo", scale)
        submitted, self.path_text = path_field("photo-path", self.path_text, self.dialog, "Open a portrait", FILTERS)
        if submitted:
            self.open_photo(self.path_text)
        self._encoder_field()
        if self.base is None and self._aligning is None:
            hint(
                "Open a portrait photo (jpg, png, webp) or drop one on the window. Its face is found and "
                "aligned, then a 3D head is fitted to it that you can orbit all the way round."
            )
            return
        if self.note:
            hint(self.note, WARN if self.note_is_warning else MUTED)
        portrait = self.portrait()
        if portrait is None:
            return
        self._pictures(job, scale)
        self._controls(job)
        if job is not None and self.inversion is not None:
            self._progress(job, self.inversion.trace, scale)
        imgui.begin_disabled(self.running)
        self._corrections(scale)
        self._strip(scale)
        self._settings(scale)
        imgui.end_disabled()

    def _encoder_field(self) -> None:
        settings = self.app.state.invert
        _, settings.use_encoder = imgui.checkbox("Start from an encoder", settings.use_encoder)
        imgui.set_item_tooltip(
            "On: the model's encoder (picked below, or the one bundled with the model) predicts the head "
            "at once and the fit refines it. Off: the fit starts from the mean head, as without an encoder."
        )
        if not settings.use_encoder:
            return
        label("Encoder", self.app.scale)
        submitted, self.encoder_text = path_field(
            "encoder-path", self.encoder_text, self.encoder_dialog, "Open an encoder", ENCODER_FILTERS
        )
        if submitted:
            self.use_encoder(self.encoder_text.strip() or None)
        imgui.set_item_tooltip(
            "An encoder from 'panohead train-encoder' for this model: it predicts the head in one pass, "
            "shown at once; Refine then fits it closer. Empty: the bundled model's own, if any."
        )
        if self.encoder_error:
            hint(self.encoder_error, ERROR)
        elif self.preview is not None:
            imgui.text_colored(GOOD, f"encoder preview in {self.preview.seconds * 1000:.0f} ms")
            imgui.set_item_tooltip(f"encoder: {self.preview.origin}")

    def _pictures(self, job: Job[InversionOutputs] | None, scale: float) -> None:
        """The photo with its crop box (drag to move, drag a corner to resize), then the crop with its
        mask, the head being fitted while a job runs, and the camera."""
        assert self.box is not None
        moved = self.editor.photo(self.box, scale, 240 * scale, enabled=not self.running)
        if moved is not None and moved != self.box:
            self.move_box(moved)
        self._remember()  # as soon as the mouse lets go
        imgui.set_item_tooltip("Drag the box to move the crop, drag a corner to resize it; the camera follows")
        fitting = job is not None and self.preview_texture.shape is not None
        pictures = 1 + (self.editor.mask_view == "side") + fitting
        spacing = imgui.get_style().item_spacing.x
        glyph = 56 * scale
        side = min((imgui.get_content_region_avail().x - 2 * glyph - 8 - pictures * spacing) / pictures, 200 * scale)
        self.editor.crop(max(side, 16.0))
        if fitting:
            imgui.same_line()
            imgui.image(self.preview_texture.ref, imgui.ImVec2(side, side))
            imgui.set_item_tooltip("The head being fitted, seen from the photo's camera")
        imgui.same_line()
        imgui.begin_group()
        orbit_glyph(self.yaw, self.pitch, glyph)
        imgui.text(f"yaw {self.yaw:+.1f}")
        imgui.text(f"pitch {self.pitch:+.1f}")
        imgui.end_group()
        imgui.set_item_tooltip("The camera, seen from above (yaw) and from the side (pitch)")

    def _corrections(self, scale: float) -> None:
        imgui.separator_text("Crop and camera")
        label("Mask", scale)
        self.editor.mask_view = radio_row(
            self.editor.mask_view, [("overlay", "over the crop"), ("side", "beside it")], "inv-mask"
        )
        label("Yaw, pitch", scale)
        changed, angles = imgui.input_float2("##inv-camera", [self.yaw, self.pitch], "%.1f deg")
        if changed:
            self.set_camera(*angles)
        assert self.box is not None
        label("Crop x, y, side", scale)
        edited, numbers = imgui.input_float3("##inv-box", [*self.box.centre, self.box.side], "%.0f")
        if edited:
            x, y, side = numbers
            try:
                self.move_box(self.box.moved(x - self.box.centre[0], y - self.box.centre[1]).resized(side))
            except ValueError as error:
                self.input_error = one_line(error)
        if self.input_error:
            hint(self.input_error, ERROR)
        if imgui.button("Reset to estimate"):
            self.reset_to_estimate()
        imgui.set_item_tooltip("The crop and camera the alignment found (and forget your correction of this photo)")
        hint(
            "Crop box in photo pixels. Moving it off the head turns the camera for a photo with a face "
            "(the head centre sits in the crop's middle); yaw and pitch can then be set by hand. "
            "Corrections are remembered for this photo (by its content, under any name)."
        )

    def _strip(self, scale: float) -> None:
        imgui.separator_text("More photos of this head")
        removed = None
        for index, photo in enumerate(self.more):
            imgui.push_id(f"more-photo-{index}")
            imgui.image(photo.texture.ref, imgui.ImVec2(64 * scale, 64 * scale))
            imgui.set_item_tooltip(photo.path)
            imgui.same_line()
            imgui.begin_group()
            imgui.text(Path(photo.path).name)
            imgui.set_next_item_width(110 * scale)
            _, photo.yaw = imgui.drag_float("yaw", photo.yaw, 0.5, -180.0, 180.0, "%.1f deg")
            imgui.same_line()
            imgui.set_next_item_width(110 * scale)
            _, photo.pitch = imgui.drag_float("pitch", photo.pitch, 0.5, -60.0, 60.0, "%.1f deg")
            if imgui.small_button("Remove"):
                removed = index
            imgui.end_group()
            imgui.pop_id()
        if removed is not None:
            self.remove_photo(removed)
        if 1 + len(self.more) + len(self._adding) < MAX_PORTRAITS:
            label("Add photo", scale)
            submitted, self.more_text = path_field(
                "more-photo-path", self.more_text, self.more_dialog, "Add a photo of the same head", FILTERS
            )
            if submitted and self.more_text.strip():
                self.add_photo(self.more_text.strip())
        hint(
            f"Up to {MAX_PORTRAITS} photos of one person (front, side, back) are fitted together into one head; "
            "each photo's camera starts at its yaw and pitch and is refined during the fit."
        )

    def _settings(self, scale: float) -> None:
        imgui.separator_text("Optimisation")
        label("Latent", scale)
        spaces: tuple[Space, ...] = SPACES if self.preview is None else ("w", "w+")  # an encoder predicts w+
        self.space = radio_row(self.space, [(s, s) for s in spaces], "inv-space")
        label("Latent steps", scale)
        _, steps = imgui.input_int("##inv-steps", self.steps, 10, 100)
        self.steps = min(max(steps, 1), 5000)
        label("PTI steps", scale)
        _, pti_steps = imgui.input_int("##inv-pti", self.pti_steps, 10, 100)
        self.pti_steps = min(max(pti_steps, 0), 5000)
        start = (
            "Refinement starts from the encoder's w+ (z is not offered: an encoder predicts w+)."
            if self.preview is not None
            else "z is the paper's choice; w+ fits more closely but holds 3D shape less well."
        )
        hint(f"{start} Pivotal tuning (PTI) then adjusts the generator itself around that latent.")

    def _controls(self, job: Job[InversionOutputs] | None) -> None:
        if self.running:
            if imgui.button("Cancel (keep the best so far)"):
                self.cancel()
        elif imgui.button("Refine" if self.preview is not None else "Invert"):
            self.start()
        outputs = job.value if job is not None else None
        if outputs is not None:
            imgui.same_line()
            imgui.text_colored(GOOD, f"saved to {outputs.folder.name}/")
            imgui.set_item_tooltip(str(outputs.folder))
        if job is not None and job.error:
            hint(job.error, ERROR)

    def _progress(self, job: Job[InversionOutputs], trace: InversionTrace, scale: float) -> None:
        fraction, overlay = job.fraction, job.message
        if job.eta:  # counts down from the estimate measured before stage 1 (gone at 0: running late)
            overlay += f"  (about {duration(job.eta)} left)"
        if not job.running:
            fraction, overlay = (1.0, "done") if job.status == "done" else (0.0, job.status)
        imgui.progress_bar(fraction, imgui.ImVec2(-1, 0), overlay)
        if trace.estimate:
            hint(trace.estimate)
        if trace.best == trace.best:  # not NaN
            imgui.text_colored(MUTED, f"best loss {trace.best:.4f}")
        latent, pti = trace.losses["latent"], trace.losses["pti"]
        if not latent:
            return
        if self.running:
            implot.set_next_axes_to_fit()
        if implot.begin_plot("##inv-losses", imgui.ImVec2(-1, 150 * scale)):
            implot.setup_axes("step", "loss")
            implot.setup_legend(implot.Location_.north_east)
            implot.plot_line("stage 1", np.asarray(latent, dtype=np.float64))
            if pti:
                xs = np.arange(len(latent), len(latent) + len(pti), dtype=np.float64)
                implot.plot_line("PTI", xs, np.asarray(pti, dtype=np.float64))
            implot.end_plot()

    def close(self) -> None:
        """Stop a running job and the alignment thread (the app calls this when it closes)."""
        self.cancel()
        if self.job is not None:
            self.job.join(timeout=30.0)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.editor.delete()
        self.preview_texture.delete()
        for photo in self.more:
            photo.texture.delete()
