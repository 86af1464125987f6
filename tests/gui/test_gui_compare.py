"""Compare mode in a real window (Xvfb + Mesa), on the tiny column model of test_gui_app."""

from __future__ import annotations

import shutil
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from panohead.editing import Latent
from tests.gui.test_gui_editing import run_until

pytestmark = pytest.mark.gui


def halves(app) -> tuple[np.ndarray, np.ndarray]:
    """The view's left and right halves (the two panes side by side) as int16 pixels."""
    app.step_frame()  # a frame to draw the newest picture, so the rectangle below is where it stays
    frame = app.read_framebuffer()
    x0, y0, x1, y1 = app.image_rect
    pixels = frame[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].astype(np.int16)
    middle = pixels.shape[1] // 2
    return pixels[:, : middle - 2], pixels[:, middle + 2 : 2 * middle]


def written(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def test_two_panes_orbit_together_and_captures_are_written(app, tmp_path):
    from viz.compare_widget import CompareWidget

    compare = app.panel(CompareWidget)
    app.select_tab = CompareWidget.tab
    app.set_state(edit={"latent": Latent.from_seed(1)})
    compare.active = True
    run_until(app, lambda: compare.shown)
    compare.add_snapshot()  # the right pane keeps seed 1
    app.set_state(edit={"latent": Latent.from_seed(2)})  # the left, live pane follows the view to seed 2
    run_until(app, lambda: compare.shown)
    live, snapshot = halves(app)
    assert live.shape[1] > 200 and np.abs(live - snapshot).mean() > 2  # two different heads
    app.set_state(edit={"camera": app.state.edit.with_camera(yaw=120.0).camera})
    run_until(app, lambda: compare.shown)
    live_turned, snapshot_turned = halves(app)
    assert np.abs(live_turned - live).mean() > 2 and np.abs(snapshot_turned - snapshot).mean() > 2

    captures = tmp_path / "captures"
    compare.capture()
    run_until(app, lambda: written(captures, "compare*.png"))
    assert Image.open(written(captures, "compare*.png")[0]).size == (512, 256)
    compare.frames = 3
    compare.capture_video()
    run_until(app, lambda: compare.video_progress is None and written(captures, "compare_turntable*.mp4"))
    frames = imageio.mimread(written(captures, "compare_turntable*.mp4")[0])
    assert len(frames) == 3 and frames[0].shape == (256, 512, 3)


def test_an_inversion_result_sits_next_to_its_photo_at_the_photo_camera(app, column_checkpoint, tmp_path):
    from viz.compare_widget import CompareWidget
    from viz.inversion_widget import InversionWidget

    folder = tmp_path / "inversion"
    folder.mkdir()
    shutil.copy(column_checkpoint, folder / "generator.safetensors")
    Image.fromarray(np.full((32, 32, 3), (200, 40, 90), np.uint8)).save(folder / "aligned.png")
    compare = app.panel(CompareWidget)
    assert compare.inversion_photo() is None
    app.set_state(model={"source": str(folder / "generator.safetensors")})
    inversion = app.panel(InversionWidget)
    inversion.yaw, inversion.pitch = -20.0, 5.0  # the photo's estimated camera
    compare.active = True
    compare.add_inversion_photo()
    assert app.state.edit.camera.yaw == 340.0 and app.state.edit.camera.pitch == 5.0
    run_until(app, lambda: compare.shown)
    _, photo = halves(app)
    assert np.abs(photo[40:] - (200, 40, 90)).max() <= 3  # below the label, the photo as it was taken
