"""The editing panels in a real window (Xvfb + Mesa), driven through the App and panel APIs.

Same tiny column model as tests/gui/conftest.py: the colours of the column and the background come
from the latents, so every edit shows in the picture.
"""

from __future__ import annotations

import json
import time

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from gui_input import press

from panohead.checkpoint import save_tensors
from panohead.editing import Direction, Latent, PathSettings
from panohead.editing.directions import with_amount

pytestmark = pytest.mark.gui


def picture(app) -> np.ndarray:
    """The final full-quality picture for the current state, as rendered (H, W, 4) uint8."""
    return app.wait_idle().image.copy()


def run_until(app, condition, timeout: float = 60.0) -> None:
    """Step frames until ``condition()`` holds (tasks finish on the render thread, results arrive per frame)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the editor did not finish in time")
        app.step_frame()
        time.sleep(0.005)


def unit_direction(w_dim: int, seed: int = 0) -> Direction:
    vector = torch.randn(w_dim, generator=torch.Generator().manual_seed(seed))
    return Direction.of("test", vector / vector.norm(), scale=1.0)


def test_mixing_every_row_from_seed_b_shows_seed_b_and_no_row_shows_seed_a(app):
    from viz.mixing_widget import MixingWidget

    app.set_state(edit={"latent": Latent.from_seed(2)})
    seed_b = picture(app)
    app.set_state(edit={"latent": Latent.from_seed(1)})
    seed_a = picture(app)
    assert not np.array_equal(seed_a, seed_b)
    mixing, model = app.panel(MixingWidget), app.model
    mixing.mix(Latent.from_seed(2), (0, model.num_ws), (0, model.background_num_ws))
    assert np.array_equal(picture(app), seed_b)
    mixing.mix(Latent.from_seed(2), (0, 0), (0, 0))
    assert np.array_equal(picture(app), seed_a)
    fine = next(group for group in model.layer_groups if group[0] == "fine")[1:]
    mixing.mix(Latent.from_seed(2), fine, (0, 0))
    mixed = picture(app)
    assert not np.array_equal(mixed, seed_a) and not np.array_equal(mixed, seed_b)


def test_principal_direction_slider_moves_the_head_and_back_restores_it(app):
    from viz.directions_widget import DirectionsWidget

    original = picture(app)
    panel = app.panel(DirectionsWidget)
    panel.request_pca()
    run_until(app, lambda: panel.pca() is not None)
    first = panel.pca().top(3)[0]
    assert first.name == "PC1" and 0 < first.explained <= 1
    panel.set_amount(first, 3.0)
    assert not np.array_equal(picture(app), original)
    panel.set_amount(first, 0.0)
    assert app.state.edit.directions == ()
    assert np.array_equal(picture(app), original)


def test_the_first_principal_directions_show_a_progress_bar_while_they_are_computed(app, monkeypatch):
    import threading

    from imgui_bundle import imgui

    import viz.directions_widget as panel_module

    picture(app)
    release, compute = threading.Event(), panel_module.cached_principal_directions

    def slow(generator, progress):
        progress(0.5)
        release.wait(30)
        return compute(generator, samples=500, progress=progress)

    bars: list[str] = []
    draw_bar = imgui.progress_bar
    monkeypatch.setattr(panel_module, "cached_principal_directions", slow)
    monkeypatch.setattr(
        imgui, "progress_bar", lambda fraction, size, text: (bars.append(text), draw_bar(fraction, size, text))
    )
    panel = panel_module.DirectionsWidget
    app.select_tab = panel.tab
    run_until(app, lambda: "computing the principal directions of w: 50%" in bars)
    release.set()
    run_until(app, lambda: app.panel(panel).pca() is not None)
    bars.clear()
    app.step_frame()
    assert not bars  # done: the sliders replace the bar


def test_a_direction_preview_strip_is_rendered_while_the_view_is_idle(app):
    from viz.directions_widget import DirectionsWidget

    picture(app)
    panel = app.panel(DirectionsWidget)
    direction = unit_direction(app.model.w_dim)
    panel.keep(direction, "tilt")
    panel.previewed.add(direction.vector.data)
    run_until(app, lambda: panel.update_strips([direction]) or direction.vector.data in panel.strips)
    height, width = panel.strips[direction.vector.data].size
    assert (height, width) == (2 * 16, 3 * 16)  # rows: front and back; columns: -2, 0, +2 (CPU preview size)


def test_ctrl_z_undoes_and_ctrl_shift_z_redoes_each_edit(app):
    from imgui_bundle import imgui

    from viz.mixing_widget import MixingWidget

    app.wait_idle()
    steps = [
        lambda: app.set_state(edit={"latent": Latent.from_seed(5)}),
        lambda: app.set_state(edit={"camera": app.state.edit.with_camera(yaw=120.0).camera}),
        lambda: app.panel(MixingWidget).mix(Latent.from_seed(7), (0, 2)),
    ]
    seen = [app.state.edit]
    for step in steps:
        step()
        app.step_frame()
        seen.append(app.state.edit)
    assert app.editor.history.undo_label == "mixing"
    for expected in reversed(seen[:-1]):
        press(app, imgui.Key.z, ctrl=True)
        assert app.state.edit == expected
    assert app.state.edit.latent == Latent.from_seed(0) and app.state.edit.mixing.latent is None
    for expected in seen[1:]:
        press(app, imgui.Key.z, ctrl=True, shift=True)
        assert app.state.edit == expected
    assert app.state.edit.camera.yaw == 120.0 and app.state.edit.mixing.latent == Latent.from_seed(7)


def test_showing_every_panel_records_no_undo_step(app):
    app.wait_idle()
    for tab in dict.fromkeys(panel.tab for panel in app.panels):
        app.select_tab = tab
        for _ in range(3):
            app.step_frame()
    assert len(app.editor.history) == 1 and not app.editor.history.can_undo


def test_orbiting_with_the_mouse_is_one_undo_step(app):
    from imgui_bundle import imgui

    app.wait_idle()
    steps_before = len(app.editor.history)
    x0, y0, x1, y1 = app.viewport.image_rect
    io = imgui.get_io()
    io.add_mouse_pos_event((x0 + x1) / 2, (y0 + y1) / 2)
    app.step_frame()
    io.add_mouse_button_event(0, True)
    app.step_frame()
    for step in range(1, 6):
        io.add_mouse_pos_event((x0 + x1) / 2 + 20 * step, (y0 + y1) / 2)
        app.step_frame()
    io.add_mouse_button_event(0, False)
    app.step_frame()
    assert app.state.edit.camera.yaw == pytest.approx(360 - 100 * 0.35, abs=1.0)
    assert len(app.editor.history) == steps_before + 1 and app.editor.history.undo_label == "yaw"
    app.editor.undo()
    assert app.state.edit.camera.yaw == 0.0


def test_a_saved_session_reopens_to_the_identical_picture(app, tmp_path):
    from viz.mixing_widget import MixingWidget

    app.wait_idle()
    app.set_state(edit={"latent": Latent.from_seed(3), "psi": 0.6, "background": Latent.from_seed(4)})
    app.state.edit = app.state.edit.with_camera(yaw=40.0, pitch=8.0)
    app.panel(MixingWidget).mix(Latent.from_seed(6), (1, 4), (0, 3))
    app.editor.change(directions=with_amount((), unit_direction(app.model.w_dim), 1.5))
    saved_picture = picture(app)
    saved_request = app.editor.request()
    path = tmp_path / "head.json"
    app.editor.save_session(path)
    run_until(app, lambda: "session" not in app.editor.busy)
    assert path.is_file() and path.stat().st_size < 20_000
    app.set_state(edit={"latent": Latent.from_seed(9), "psi": 1.0, "background": None})
    app.state.edit = app.state.edit.with_camera(yaw=200.0)
    app.panel(MixingWidget).mix(None)
    app.editor.change(directions=())
    assert not np.array_equal(picture(app), saved_picture)
    app.editor.open_session(path)
    run_until(app, lambda: "session" not in app.editor.busy)
    assert app.editor.request() == saved_request
    assert np.array_equal(picture(app), saved_picture)
    assert not app.editor.history.can_undo  # a fresh history for the opened session


def test_a_session_naming_a_missing_checkpoint_is_one_line_in_the_view(app, tmp_path):
    app.wait_idle()
    path = tmp_path / "moved.json"
    app.editor.save_session(path)
    run_until(app, lambda: path.is_file())
    document = json.loads(path.read_text())
    document["model"]["source"] = str(tmp_path / "gone.safetensors")
    path.write_text(json.dumps(document))
    app.editor.open_session(path)
    errors = [message.text for message in app.messages() if message.error]
    assert errors[-1] == f"{path}: its checkpoint {tmp_path / 'gone.safetensors'} is missing (moved or deleted?)"
    (tmp_path / "broken.json").write_text("{not json")
    app.drop(str(tmp_path / "broken.json"))
    errors = [message.text for message in app.messages() if message.error]
    assert errors[-1].startswith(f"{tmp_path / 'broken.json'}: malformed session JSON")


def test_keyframes_play_in_the_view_and_export_as_video(app, tmp_path):
    from viz.keyframes_widget import KeyframesWidget

    editor = app.editor
    app.set_state(edit={"latent": Latent.from_seed(1)})
    app.state.edit = app.state.edit.with_camera(yaw=0.0)
    picture(app)
    editor.add_keyframe()
    run_until(app, lambda: len(editor.keyframes) == 1)
    app.set_state(edit={"latent": Latent.from_seed(2)})
    app.state.edit = app.state.edit.with_camera(yaw=90.0)
    editor.add_keyframe()
    run_until(app, lambda: len(editor.keyframes) == 2)
    assert editor.keyframes[1].state.latent == Latent.from_seed(2) and editor.keyframes[1].state.camera.yaw == 90.0
    editor.path = PathSettings(frames_per_segment=3, fps=30)
    before = app.state.edit
    editor.play()
    run_until(app, lambda: editor.playback is not None)
    yaws = set()
    run_until(app, lambda: yaws.add(app.state.edit.camera.yaw) or editor.playback is None)
    assert {0.0, 90.0} <= yaws and app.state.edit == before  # played, then back to the head being edited
    panel = app.panel(KeyframesWidget)
    panel.format, panel.view = "gif", "raw"
    panel.export()
    run_until(app, lambda: panel.task is not None and not panel.task.running)
    assert panel.task.status == "done", panel.task.error
    videos = list((tmp_path / "captures").glob("keyframes*.gif"))
    assert len(videos) == 1 and len(imageio.mimread(videos[0])) == 4
    editor.go_to_keyframe(0)
    assert app.state.edit.latent == Latent.from_seed(1) and app.state.edit.camera.yaw == 0.0


def test_edits_apply_to_an_inverted_photos_latent(app, tmp_path):
    """`panohead invert` writes ws as a 'latent' safetensors file; the Latent panel opens it and edits apply."""
    seed_picture = picture(app)
    ws = torch.from_numpy(app.result.ws)[None]
    path = tmp_path / "portrait_latent.safetensors"
    save_tensors(path, {"ws": ws, "label": torch.zeros(1, 25)}, "latent", {"space": "w+"})
    from viz.latent_widget import LatentWidget

    app.panel(LatentWidget).open(str(path))
    assert np.array_equal(picture(app), seed_picture)  # the same ws, read from the file
    app.editor.change(directions=with_amount((), unit_direction(app.model.w_dim), 2.0))
    edited = picture(app)
    assert not np.array_equal(edited, seed_picture)
    app.editor.use_latent(ws[0], "portrait.jpg")  # e.g. straight from an inversion, no file
    assert app.state.edit.latent.label == "portrait.jpg" and app.state.edit.directions == ()
    assert np.array_equal(picture(app), seed_picture)  # a new head starts without the edits before it
    app.editor.change(directions=with_amount((), unit_direction(app.model.w_dim), 2.0))
    assert np.array_equal(picture(app), edited)  # and edits apply to it


def test_an_inversion_result_or_latent_file_opens_without_earlier_edits_and_undo_brings_them_back(
    app, column_checkpoint, tmp_path
):
    from imgui_bundle import imgui

    from panohead.editing import Mixing
    from viz.inversion_job import InversionOutputs
    from viz.inversion_widget import InversionWidget
    from viz.latent_widget import LatentWidget
    from viz.mixing_widget import MixingWidget

    app.set_state(edit={"latent": Latent.from_seed(1)})
    plain = picture(app)
    path = tmp_path / "inverted_latent.safetensors"
    save_tensors(
        path, {"ws": torch.from_numpy(app.result.ws)[None], "label": torch.zeros(1, 25)}, "latent", {"space": "w+"}
    )
    model = app.model
    fine = next(group for group in model.layer_groups if group[0] == "fine")[1:]
    app.panel(MixingWidget).mix(Latent.from_seed(2), fine, (0, 0))
    app.editor.change(directions=with_amount(app.state.edit.directions, unit_direction(model.w_dim), 2.0))
    edited, edits = picture(app), app.state.edit
    assert not np.array_equal(edited, plain)
    outputs = InversionOutputs(
        tmp_path, column_checkpoint, path, cancelled=False, latent_loss=0.1, pti_loss=None, loss_name="lpips"
    )
    app.panel(InversionWidget)._load_result(outputs)
    assert np.array_equal(picture(app), plain)  # the inverted head as the Invert panel previewed it
    assert app.state.edit.mixing == Mixing() and app.state.edit.directions == ()
    press(app, imgui.Key.z, ctrl=True)
    assert app.state.edit == edits  # one undo: the head and edits before
    assert np.array_equal(picture(app), edited)
    app.panel(LatentWidget).open(str(path))
    assert np.array_equal(picture(app), plain) and app.state.edit.mixing == Mixing()
