"""The visualizer in a real window: Xvfb + Mesa's software OpenGL, driven through the App API.

Each test opens the app on a tiny model whose density is an opaque vertical column (|x|, |z| <= 0.2),
so the foreground mask is a bright band with background on both sides. On failure the window is
saved to test-artifacts/<test name>.png.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scheduling import descheduled_seconds

from panohead.editing import Latent
from tests.gui.conftest import WINDOW

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def view_pixels(app) -> np.ndarray:
    """(h, w, 3) int framebuffer pixels of the picture after everything settled."""
    app.wait_idle()
    x0, y0, x1, y1 = app.image_rect
    return app.read_framebuffer()[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].astype(np.int16)


def mask_on_screen(mask: np.ndarray, shape: tuple[int, int], erode: int) -> tuple[np.ndarray, np.ndarray]:
    """Screen-sized (inside, outside) boolean maps from a rendered mask, shrunk by ``erode`` texels
    so texture filtering at the mask's edge cannot blur one into the other."""
    inside, outside = mask > 0.99, mask < 0.01
    for _ in range(erode):
        inside = (
            inside & np.roll(inside, 1, 1) & np.roll(inside, -1, 1) & np.roll(inside, 1, 0) & np.roll(inside, -1, 0)
        )
        outside = outside & np.roll(outside, 1, 1) & np.roll(outside, -1, 1)
    rows = np.arange(shape[0]) * mask.shape[0] // shape[0]
    cols = np.arange(shape[1]) * mask.shape[1] // shape[1]
    return inside[rows][:, cols], outside[rows][:, cols]


def test_the_window_opens_on_the_model_and_shows_its_picture(app):
    result = app.wait_idle()
    assert app.model is not None and app.model.name == "tiny_column.safetensors"
    assert result.image.shape == (32, 32, 4) and result.quality == "full"
    pixels = view_pixels(app)
    assert pixels.shape[0] > 400 and pixels.std() > 5  # a large, non-blank picture


def test_orbiting_to_yaw_180_changes_the_picture_and_back_restores_it(app):
    front = view_pixels(app)
    inside, _ = mask_on_screen(app.result.mask, front.shape[:2], erode=1)
    app.state.edit = app.state.edit.with_camera(yaw=180.0)
    back = view_pixels(app)
    assert np.abs(front - back)[inside].mean() > 8  # the back of the column is another picture
    app.state.edit = app.state.edit.with_camera(yaw=0.0)
    assert np.abs(view_pixels(app) - front).max() <= 1


def test_switching_the_background_changes_only_pixels_outside_the_mask(app):
    before = view_pixels(app)
    inside, outside = mask_on_screen(app.result.mask, before.shape[:2], erode=1)
    assert inside.mean() > 0.2 and outside.mean() > 0.2  # the column and the background are both on screen
    app.set_state(background={"mode": "colour", "colour": (1.0, 0.0, 1.0)})
    after = view_pixels(app)
    assert np.abs(after - before)[inside].max() <= 2
    assert np.abs(after[outside] - np.array([255, 0, 255])).max() <= 2


def test_another_background_seed_keeps_the_head_inside_the_mask(app):
    before = view_pixels(app)
    inside, outside = mask_on_screen(app.result.mask, before.shape[:2], erode=3)
    app.set_state(edit={"background": Latent.from_seed(5)})
    after = view_pixels(app)
    assert app.result.timings.get("render") is None  # the ray-marched head came from the cache
    assert np.abs(after - before)[inside].mean() < 2
    assert np.abs(after - before)[outside].mean() > 10
    app.select_tab = "View"
    app.step_frame()
    assert app.state.background.seed == 5  # the Background panel shows the seed the head's state names


def test_the_mask_view_is_dark_outside_the_head_and_bright_inside(app):
    app.set_state(view={"mode": "mask"})
    pixels = view_pixels(app)
    inside, outside = mask_on_screen(app.result.mask, pixels.shape[:2], erode=1)
    assert pixels[outside].max() <= 8
    assert pixels[inside].min() >= 245


def test_the_trigrid_inspector_shows_three_grids_of_d_planes(app):
    depth = 3
    app.set_state(view={"target": "trigrid"})
    pixels = view_pixels(app)
    planes = [cell for cell in app.result.cells if cell.kind == "plane"]
    slices = [cell for cell in app.result.cells if cell.kind == "slice"]
    assert len(planes) == 3 * depth and len(slices) == 3
    assert len({round(cell.y0, 3) for cell in planes}) == 3  # three rows
    assert len({round(cell.x0, 3) for cell in planes}) == depth  # of D columns
    height, width = pixels.shape[:2]
    gap_colour = pixels[2, 2]
    for cell in planes:
        top, bottom = int(cell.y0 * height) + 4, int(cell.y1 * height) - 4
        tile = pixels[top:bottom, int(cell.x0 * width) + 4 : int(cell.x1 * width) - 4]
        assert tile.reshape(-1, 3).std(axis=0).max() > 3  # a picture, not a flat colour
        assert np.abs(tile.reshape(-1, 3) - gap_colour).sum(axis=1).mean() > 20  # distinct from the gaps
    between = pixels[int(planes[0].y0 * height) + 8, int(planes[0].x1 * width) + 2]
    assert np.abs(between - gap_colour).max() <= 2


def test_the_mirror_inspector_scores_front_against_mirrored_back(app):
    app.set_state(view={"target": "mirror"})
    pixels = view_pixels(app)
    result = app.result
    assert [cell.kind for cell in result.cells] == ["image"] * 3
    assert -1.0 <= result.stats["similarity"] <= 1.0 and result.stats["overlap"] > 0.1
    assert pixels.shape[1] > 2.5 * pixels.shape[0]  # three tiles side by side


def test_left_drag_orbits_wheel_zooms_and_double_click_resets(app):
    from imgui_bundle import imgui

    app.wait_idle()
    x0, y0, x1, y1 = app.viewport.image_rect
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    io = imgui.get_io()
    io.add_mouse_pos_event(centre_x, centre_y)
    app.step_frame()
    io.add_mouse_button_event(0, True)
    app.step_frame()
    for step in range(1, 6):
        io.add_mouse_pos_event(centre_x + 20 * step, centre_y + 4 * step)
        app.step_frame()
    io.add_mouse_button_event(0, False)
    app.step_frame()
    camera = app.state.edit.camera
    assert camera.yaw == pytest.approx(360 - 100 * 0.35, abs=1.0) and camera.pitch == pytest.approx(20 * 0.35, abs=1.0)
    io.add_mouse_wheel_event(0.0, 2.0)
    app.step_frame()
    assert app.state.edit.camera.radius == pytest.approx(2.7 * 0.92**2, rel=1e-3)
    for _ in range(2):
        io.add_mouse_button_event(0, True)
        app.step_frame()
        io.add_mouse_button_event(0, False)
        app.step_frame()
    camera = app.state.edit.camera
    assert (camera.yaw, camera.pitch, camera.radius) == (0.0, 0.0, pytest.approx(2.7))


def test_f1_toggles_the_help_overlay(app):
    from imgui_bundle import imgui

    app.wait_idle()
    before = app.read_framebuffer().astype(np.int16)
    imgui.get_io().add_key_event(imgui.Key.f1, True)
    app.step_frame()
    imgui.get_io().add_key_event(imgui.Key.f1, False)
    app.step_frame()
    assert app.state.ui.show_help
    assert np.abs(app.read_framebuffer().astype(np.int16) - before).mean() > 1


def test_save_view_writes_a_png_with_the_mask_as_alpha(app, tmp_path):
    from viz.capture_widget import CaptureWidget

    result = app.wait_idle()
    app.set_state(capture={"alpha": True})
    path = app.panel(CaptureWidget).save_view()
    saved = np.asarray(Image.open(path))
    assert saved.shape == (32, 32, 4)
    expected = np.round(np.clip(result.mask, 0, 1) * 255)
    assert np.abs(saved[..., 3].astype(float) - expected).max() <= 1


def test_save_view_during_a_cpu_preview_saves_the_full_quality_picture(app):
    """Ctrl+S right after an orbit or zoom on a CPU saved the half-resolution preview (32x32 for the bundled model)."""
    import dataclasses

    from viz.capture_widget import CaptureWidget

    full = app.wait_idle()
    app.result = dataclasses.replace(
        full,
        quality="preview",
        image=full.image[::2, ::2].copy(),
        rgba=full.rgba[::2, ::2].copy(),
        mask=full.mask[::2, ::2].copy(),
    )
    widget = app.panel(CaptureWidget)
    assert widget.save_view() is None  # rendered in the background
    deadline = time.monotonic() + 60
    while (widget.pending_full or widget.last_saved is None) and time.monotonic() < deadline:
        app.step_frame(wait=0.01)
    saved = np.asarray(Image.open(widget.last_saved))
    assert saved.shape == (32, 32, 3) == full.image[..., :3].shape
    assert np.abs(saved.astype(int) - full.image[..., :3]).max() <= 1
    assert widget.last_saved.name == "view_seed0000_yaw000_final.png"


def test_a_corrupt_checkpoint_shows_an_error_and_keeps_the_current_model(app, tmp_path):
    app.wait_idle()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    app.drop(str(broken))
    assert app.state.model.source == str(broken)
    result = app.wait_idle()
    errors = [message.text for message in app.messages() if message.error]
    assert errors and errors[-1].startswith(f"{broken}: ") and "\n" not in errors[-1]
    assert app.state.model.source.endswith("tiny_column.safetensors")  # back to the model that works
    assert result.image is not None and app.model.name == "tiny_column.safetensors"


def ui_frame_rate(app, seconds: float) -> tuple[float, str]:
    """UI frames per second of the loop's own time (wall time minus the time this, the UI, thread waited for a
    CPU), over ``seconds`` of spinning turntable; and a line that says how it was measured."""
    for _ in range(5):
        app.step_frame(wait=app.pacer.wait_seconds(True))
    start, descheduled, frames = time.perf_counter(), descheduled_seconds(), 0
    while time.perf_counter() - start < seconds:
        app.step_frame(wait=app.pacer.wait_seconds(True))
        frames += 1
    wall = time.perf_counter() - start
    waited = descheduled_seconds() - descheduled
    fps = frames / (wall - waited)
    return (
        fps,
        f"{fps:.1f} FPS ({frames / wall:.1f} by the wall clock, {waited:.2f} s of {wall:.2f} s waiting for a CPU)",
    )


def test_the_ui_stays_above_30_fps_while_the_renderer_is_slow(app):
    """30 FPS, or on a loaded machine (other processes, Xvfb and Mesa competing for the cores) half the rate the
    same UI reaches with the fast renderer just before: a UI that waited for a 0.5 s render would drop to 2."""
    app.wait_idle()
    app.set_state(view={"turntable": True, "turntable_speed": 90.0})
    baseline, measured = ui_frame_rate(app, 1.0)
    print(f"UI with the fast renderer at {measured}")
    render, started = app.renderer.render_fn, []

    def slow_render(request, quality):
        started.append(time.perf_counter())
        time.sleep(0.5)
        return render(request, quality)

    app.renderer.render_fn = slow_render
    fps, measured = ui_frame_rate(app, 1.5)
    print(f"UI with the slow renderer at {measured}; {len(started)} renders started")
    assert fps >= min(30.0, 0.5 * baseline), f"UI ran at {measured}, {baseline:.1f} FPS with the fast renderer"
    assert 1 <= len(started) <= 5  # the renderer really was slow (0.5 s a render, the 5 warm-up frames included)


def test_settings_are_remembered_and_the_app_shuts_down_cleanly(app, column_checkpoint):
    from viz.app import App

    app.set_state(edit={"latent": Latent.from_seed(7)})
    app.state.edit = app.state.edit.with_camera(yaw=45.0)
    app.wait_idle()
    app.close()
    assert not any(thread.name == "panohead-renderer" for thread in threading.enumerate())
    app.close()  # a second close is harmless
    reopened = App(checkpoint=str(column_checkpoint), device="cpu", size=WINDOW, vsync=False)
    try:
        assert reopened.state.edit.latent == Latent.from_seed(7) and reopened.state.edit.camera.yaw == 45.0
        assert reopened.wait_idle().image is not None
    finally:
        reopened.close()


def test_picking_image_file_as_background_before_choosing_a_file_is_no_error(app):
    same = view_pixels(app)
    app.set_state(background={"mode": "image", "image": ""})
    shown = view_pixels(app)  # wait_idle raises if the render failed
    assert not [message.text for message in app.messages() if message.error]
    assert np.abs(shown - same).max() <= 1  # the model's own background until a file is chosen


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_terminated_visualizer_closes_like_its_close_button_and_saves_its_settings(
    display, column_checkpoint, tmp_path, signal_name
):
    """`kill` or a closed terminal used to end the app on the spot: no viewer.json, the layout lost. A signal
    during start-up (before the window exists) must be honoured too, not kill the half-started process."""
    import os
    import signal
    import sys

    config = tmp_path / "config"
    environment = {**os.environ, "PANOHEAD_STUDIO_CONFIG_DIR": str(config), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "visualizer.py"),
            "-c",
            str(column_checkpoint),
            "--device",
            "cpu",
            "--width",
            "880",
            "--height",
            "580",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Two seconds: on an idle machine the window is open, under load (CI on 2 busy cores took 10 s to
        # import the app) it is still starting; both must end with the settings saved.
        time.sleep(2)
        assert process.poll() is None, process.communicate()[0]
        process.send_signal(getattr(signal, signal_name))
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert (config / "viewer.json").is_file(), output
