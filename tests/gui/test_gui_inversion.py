"""The inversion panel in a real window (Xvfb + Mesa): drop a photo, invert it in the background, orbit the result."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from inversion_helpers import calibrated_tiny_generator, frontal_target
from PIL import Image

from panohead.checkpoint import save_generator
from viz.export_widget import ExportWidget

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
WINDOW = (980, 640)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny checkpoint and a 'photo' it rendered at yaw 0 (no face: the manual path)."""
    folder = tmp_path_factory.mktemp("gui-invert")
    checkpoint = folder / "tiny.safetensors"
    save_generator(checkpoint, calibrated_tiny_generator())
    portrait, _ = frontal_target()
    photo = folder / "portrait.png"
    portrait.crop.resize((96, 96), Image.Resampling.NEAREST).save(photo)
    return checkpoint, photo


@pytest.fixture
def app(display, files, tmp_path, monkeypatch, request):
    from viz.app import App

    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    failures_before = request.session.testsfailed
    application = App(checkpoint=str(files[0]), device="cpu", size=WINDOW, vsync=False)
    application.set_state(capture={"folder": str(tmp_path / "captures")})
    application.wait_idle()
    yield application
    if request.session.testsfailed > failures_before and not application._closed:
        ARTIFACTS.mkdir(exist_ok=True)
        Image.fromarray(application.read_framebuffer()).save(ARTIFACTS / f"{request.node.name}.png")
    application.close()


def widget(app):
    """The app's inversion panel."""
    from viz.inversion_widget import InversionWidget

    return app.panel(InversionWidget)


def frames_until(app, condition, timeout: float = 120.0) -> int:
    """Run UI frames until ``condition()``; returns how many frames that took."""
    deadline, frames = time.monotonic() + timeout, 0
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        app.step_frame(wait=0.01)
        frames += 1
    return frames


def test_a_dropped_photo_opens_in_the_inversion_panel_on_the_manual_path(app, files):
    panel = widget(app)
    app.drop(str(files[1]))
    assert app.state.model.source == str(files[0]) and app.state.background.mode == "model"  # nothing else took it
    frames_until(app, lambda: panel.base is not None)
    assert "no face found" in panel.note and panel.note_is_warning
    resolution = panel.config().image_resolution  # the centred square, sampled at the crop resolution
    assert panel.portrait().crop.size == (resolution, resolution) and panel.yaw == pytest.approx(0.0, abs=1e-4)
    app.read_framebuffer()
    assert panel.editor.crop_texture.shape == (resolution, resolution)


def test_inversion_runs_in_the_background_and_its_result_is_loaded_into_the_viewer(app, files):
    panel = widget(app)
    panel.open_photo(str(files[1]))
    frames_until(app, lambda: panel.base is not None)
    panel.steps, panel.pti_steps = 6, 4
    before = app.read_framebuffer()
    assert panel.start()
    frames = frames_until(app, lambda: not panel.running and panel._applied)
    assert frames >= 2  # the UI kept drawing frames while both stages ran
    trace, outputs = panel.inversion.trace, panel.job.value
    assert panel.job.status == "done" and len(trace.losses["latent"]) == 6 and len(trace.losses["pti"]) == 4
    assert trace.estimate.startswith("about ") and "on cpu: 6 latent steps" in trace.estimate
    assert app.state.model.source == str(outputs.generator) and app.state.edit.latent.label == outputs.latent.name
    assert (outputs.folder / "aligned.png").is_file() and outputs.folder.parent.name == "inversions"
    result = app.wait_idle()
    assert app.model.name == "generator.safetensors" and result.error is None
    assert np.allclose(result.ws, np.load(outputs.latent)["ws"][0])
    assert np.abs(app.read_framebuffer().astype(int) - before).mean() > 0.5  # the view changed to the result
    app.set_state(background={"mode": "colour"})  # orbit it and swap its background
    app.state.edit = app.state.edit.with_camera(yaw=180.0)
    assert app.wait_idle().error is None
    app.set_state(export={"frames": 8, "video_format": "gif", "video_view": "image"})
    task = app.panel(ExportWidget).export_video()  # and export it like any other head
    frames_until(app, lambda: not task.running)
    assert task.value is not None and task.value.stem.startswith("turntable_latent") and task.value.is_file()


def test_cancel_keeps_the_best_result_so_far_and_loads_it(app, files, monkeypatch):
    from imgui_bundle import imgui

    panel = widget(app)
    app.select_tab = "Invert"
    panel.open_photo(str(files[1]))
    frames_until(app, lambda: panel.base is not None)
    panel.steps, panel.pti_steps = 2000, 10
    overlays = []
    bar = imgui.progress_bar
    monkeypatch.setattr(imgui, "progress_bar", lambda *args: overlays.append(args[2]) or bar(*args))
    panel.start()
    frames_until(app, lambda: len(panel.inversion.trace.losses["latent"]) >= 3)
    app.step_frame()
    assert overlays[-1].startswith("stage 1: latent  ") and overlays[-1].endswith(" left)")  # the estimate counts down
    panel.cancel()
    frames_until(app, lambda: not panel.running and panel._applied)
    trace, outputs = panel.inversion.trace, panel.job.value
    assert panel.job.status == "done" and outputs.cancelled and not trace.losses["pti"]
    assert outputs.latent_loss == min(trace.losses["latent"])
    assert app.state.model.source == str(outputs.generator)
    assert any("cancelled" in message.text for message in app.messages())


def test_a_file_that_is_not_a_photo_is_a_one_line_message(app, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a photo")
    app.drop(str(text))
    errors = [m.text for m in app.messages() if m.error]
    assert errors and errors[-1].startswith(f"{text}: not a readable image") and widget(app).base is None


def test_the_panel_says_before_it_runs_when_the_model_cannot_represent_a_real_photo(app, files, tmp_path, monkeypatch):
    import viz.inversion_widget as panel_module

    drawn: list[str] = []
    monkeypatch.setattr(panel_module, "hint", lambda text, *colour: drawn.append(text))
    photos = tmp_path / "trained_on_photos.safetensors"
    save_generator(photos, calibrated_tiny_generator(), extra={"training_data": "photos"})
    app.select_tab = "Invert"
    lines = {}
    for source in ("bundled", "random:tiny", str(files[0]), str(photos)):
        app.state.model.source = source
        drawn.clear()
        app.step_frame()
        lines[source] = widget(app).model_mismatch()
        assert (panel_module.OFFICIAL_MODEL_HELP in drawn) == (lines[source] is not None)  # drawn above the photo field
    assert lines["bundled"] == (
        "This model (bundled model) was trained on synthetic heads: it cannot represent a real "
        "photo (inverting one gives a blob).",
        True,
    )
    assert lines["random:tiny"][0].startswith("This model (untrained 'tiny' model) is untrained:")
    assert lines[str(files[0])] == (
        "This model (tiny.safetensors) does not record what it was trained on: unless that "
        "was real photos, a photo comes out as a blob.",
        False,
    )
    assert lines[str(photos)] is None
    assert "github.com/SizheAn/PanoHead" in panel_module.OFFICIAL_MODEL_HELP


@pytest.fixture(scope="module")
def encoders(files, tmp_path_factory):
    """An (untrained: it predicts the mean head) encoder for the tiny checkpoint, and one for another model."""
    from panohead.checkpoint import load_generator
    from panohead.inversion.encoder import encoder_for, save_encoder

    folder = tmp_path_factory.mktemp("gui-encoders")
    own, other = folder / "own.safetensors", folder / "other.safetensors"
    save_encoder(own, encoder_for(load_generator(files[0])))
    other_model = calibrated_tiny_generator()
    with torch.no_grad():
        next(other_model.parameters()).add_(0.01)  # the same shapes, other weights
    save_encoder(other, encoder_for(other_model))
    return own, other


def test_the_encoder_preview_shows_the_head_before_any_refinement_then_refine_starts_from_it(app, files, encoders):
    from panohead.inversion.settings import default_steps

    panel = widget(app)
    app.select_tab = "Invert"
    panel.use_encoder(str(encoders[0]))
    before_ws, before = app.state.edit.latent, app.wait_idle() and app.read_framebuffer()
    panel.open_photo(str(files[1]))
    frames_until(app, lambda: panel.preview is not None)
    preview = panel.preview
    assert panel.job is None and panel.encoder_error == ""  # no refinement has started
    latent = app.state.edit.latent
    assert latent.name == "encoder preview" and latent.ws is not None
    assert np.allclose(latent.ws.numpy(), preview.ws[0].numpy())
    assert 0.0 < preview.seconds < 10.0 and preview.origin == str(encoders[0])
    assert (panel.space, (panel.steps, panel.pti_steps)) == ("w+", default_steps("cpu", encoder=True))
    assert app.wait_idle().error is None
    shown = app.read_framebuffer()
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(shown).save(ARTIFACTS / "encoder_preview.png")
    assert np.abs(shown.astype(int) - before).mean() > 0.5  # the viewer shows the encoder's head
    app.editor.undo()  # one undo step, like any other head change
    assert app.state.edit.latent == before_ws
    app.editor.redo()
    panel.steps, panel.pti_steps = 2, 1
    assert panel.start() and panel.inversion.encoder is preview.encoder
    frames_until(app, lambda: not panel.running and panel._applied)
    losses = panel.inversion.trace.losses
    assert panel.job.status == "done" and len(losses["latent"]) == 2 and len(losses["pti"]) == 1


def test_an_encoder_of_another_model_is_a_one_line_error_in_the_panel(app, files, encoders):
    panel = widget(app)
    panel.use_encoder(str(encoders[1]))
    before = app.state.edit.latent
    panel.open_photo(str(files[1]))
    frames_until(app, lambda: panel.encoder_error != "")
    assert panel.encoder_error.startswith(f"{encoders[1]}: encoder was trained for another model")
    assert "\n" not in panel.encoder_error and panel.preview is None and app.state.edit.latent == before


def test_several_photos_in_the_strip_are_inverted_jointly_with_their_cameras(app, files):
    panel = widget(app)
    app.select_tab = "Invert"
    panel.open_photo(str(files[1]))
    panel.add_photo(str(files[1]))
    panel.add_photo(str(files[1]))
    frames_until(app, lambda: panel.base is not None and len(panel.more) == 2)
    panel.more[0].yaw, panel.more[1].yaw = 40.0, -40.0  # the cameras are editable per photo
    side = panel.config().image_resolution
    assert panel.more[0].texture.shape == (side, side) and panel.settings().refine_cameras
    app.step_frame()
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(app.read_framebuffer()).save(ARTIFACTS / "photo_strip.png")
    panel.steps, panel.pti_steps = 2, 1
    assert panel.start()
    frames_until(app, lambda: not panel.running and panel._applied)
    outputs = panel.job.value
    assert panel.job.status == "done" and len(panel.inversion.portraits) == 3
    cameras = np.load(outputs.latent)["cameras"]
    assert cameras.shape == (3, 25)
    assert (outputs.folder / "aligned_3.png").is_file()
    panel.remove_photo(0)
    assert len(panel.more) == 1 and panel.more[0].yaw == -40.0


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory):
    """A real portrait with a detectable face (scikit-image's astronaut, 512 x 512)."""
    pytest.importorskip("dlib")
    import skimage.data

    path = tmp_path_factory.mktemp("gui-face") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def texture_pixels(texture) -> np.ndarray:
    """(H, W, 4) uint8 read back from the GL texture the panel shows."""
    import OpenGL.GL as gl

    gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
    data = gl.glGetTexImage(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE)
    height, width = texture.shape
    return np.frombuffer(data, np.uint8).reshape(height, width, 4).copy()


def drag(app, start, end, steps: int = 5) -> None:
    """Press the left button at ``start`` (screen pixels), move to ``end`` in ``steps``, release."""
    from imgui_bundle import imgui

    io = imgui.get_io()
    io.add_mouse_pos_event(*start)
    app.step_frame()
    io.add_mouse_button_event(0, True)
    app.step_frame()
    for step in range(1, steps + 1):
        io.add_mouse_pos_event(*(np.asarray(start) + (np.asarray(end) - start) * step / steps))
        app.step_frame()
    io.add_mouse_button_event(0, False)
    app.step_frame()


def test_dragging_the_crop_box_moves_the_crop_and_the_camera_and_reopening_the_photo_restores_it(
    app, face_photo, tmp_path
):
    from panohead.inversion.corrections import Correction, CorrectionStore, photo_key

    panel = widget(app)
    app.select_tab = "Invert"
    panel.open_photo(str(face_photo))
    frames_until(app, lambda: panel.base is not None)
    app.step_frame()
    assert not panel.note_is_warning and panel.note.startswith("stage 1")
    estimate, crop_before = panel.box, texture_pixels(panel.editor.crop_texture)
    assert (panel.yaw, panel.pitch) == pytest.approx((panel.base.yaw, panel.base.pitch))
    fit = panel.editor.photo_rect[2]
    centre = panel.editor.to_screen(np.asarray(estimate.centre))

    drag(app, centre, centre + (30, 0))  # move the box right by 30 screen pixels
    assert panel.box.centre[0] - estimate.centre[0] == pytest.approx(30 / fit, abs=0.5 / fit)
    assert panel.box.centre[1] == pytest.approx(estimate.centre[1], abs=0.5 / fit)
    assert panel.box.side == pytest.approx(estimate.side)
    app.step_frame()
    crop_after = texture_pixels(panel.editor.crop_texture)
    assert np.abs(crop_after.astype(int) - crop_before).mean() > 5  # the crop shows another part of the photo
    # The camera fields follow: the landmarks refitted with the head centre the box fixes.
    assert (panel.yaw, panel.pitch) == pytest.approx(panel.base.camera(panel.box), abs=1e-6)
    assert abs(panel.yaw - panel.base.yaw) > 5.0

    corner = panel.editor.to_screen(panel.box.corners()[2])  # bottom-right corner: resize about the centre
    moved_centre = panel.editor.to_screen(np.asarray(panel.box.centre))
    drag(app, corner, moved_centre + (corner - moved_centre) * 1.2)
    assert panel.box.side == pytest.approx(1.2 * estimate.side, rel=0.02)
    app.step_frame()
    corrected, shown = Correction(panel.box, panel.yaw, panel.pitch), texture_pixels(panel.editor.crop_texture)
    key = photo_key(face_photo)
    assert CorrectionStore().get(key) == corrected  # remembered once the mouse let go

    copy = tmp_path / "the same photo renamed.png"
    copy.write_bytes(face_photo.read_bytes())
    panel.open_photo(str(copy))
    frames_until(app, lambda: panel.base is not None)
    app.step_frame()
    assert Correction(panel.box, panel.yaw, panel.pitch) == corrected and "restored" in panel.note
    restored = texture_pixels(panel.editor.crop_texture).astype(int)
    assert np.abs(restored - shown).mean() < 0.5 and np.abs(restored - crop_before).mean() > 5

    panel.set_camera(12.0, 95.0)  # an invalid pitch is one line and changes nothing
    assert panel.input_error == "pitch 95: must lie between -60 and 60 degrees" and panel.yaw == corrected.yaw
    assert not panel.move_box(panel.box.resized(4.0)) and panel.input_error.startswith("crop box 4 px across")
    ARTIFACTS.mkdir(exist_ok=True)
    panel.input_error = ""
    Image.fromarray(app.read_framebuffer()).save(ARTIFACTS / "invert_crop_box.png")

    panel.reset_to_estimate()
    app.step_frame()
    assert panel.box == estimate and CorrectionStore().get(key) is None


def test_the_encoder_switch_starts_from_the_mean_head_and_is_remembered_in_the_settings(app, files, encoders):
    from viz.settings import load_state

    panel = widget(app)
    app.select_tab = "Invert"
    panel.use_encoder(str(encoders[0]))
    app.state.invert.use_encoder = False
    panel.open_photo(str(files[1]))
    frames_until(app, lambda: panel.base is not None)
    for _ in range(10):
        app.step_frame()
    assert panel.preview is None and panel._previewing is None and app.state.edit.latent.name != "encoder preview"
    assert panel.space == "z"  # the plain start's defaults
    app.close()
    assert load_state()[0].invert.use_encoder is False  # remembered in the app settings
    from viz.app import App

    reopened = App(checkpoint=str(files[0]), device="cpu", size=WINDOW, vsync=False)
    try:
        assert reopened.state.invert.use_encoder is False
        reopened.state.invert.use_encoder = True  # switched back on: the preview appears
        other = widget(reopened)
        other.use_encoder(str(encoders[0]))
        other.open_photo(str(files[1]))
        frames_until(reopened, lambda: other.preview is not None)
        assert reopened.state.edit.latent.name == "encoder preview"
    finally:
        reopened.close()
