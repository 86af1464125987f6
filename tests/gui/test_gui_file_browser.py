"""The in-app file browser in a real window (Xvfb + Mesa), opened from a panel's real Browse button.

Same app fixture as the other GUI tests (tests/gui/conftest.py) (the window is saved to test-artifacts/ on failure).
"""

from __future__ import annotations

import shutil

import pytest
from gui_input import click, press
from imgui_bundle import imgui

from viz import file_dialog
from viz.checkpoint_widget import CheckpointWidget

pytestmark = pytest.mark.gui


class ButtonRecorder:
    """Stands in for imgui inside viz.file_dialog and notes where each button was drawn."""

    def __init__(self) -> None:
        self.rects: dict[str, tuple[float, float, float, float]] = {}

    def __getattr__(self, name: str):
        return getattr(imgui, name)

    def button(self, label: str, *args):
        clicked = imgui.button(label, *args)
        low, high = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        self.rects[label] = (low.x, low.y, high.x, high.y)
        return clicked


def test_browse_without_a_dialog_program_picks_a_checkpoint_in_the_in_app_browser(
    app, column_checkpoint, tmp_path, monkeypatch
):
    monkeypatch.setenv(file_dialog.BACKEND_VARIABLE, "builtin")
    recorder = ButtonRecorder()
    monkeypatch.setattr(file_dialog, "imgui", recorder)
    folder = tmp_path / "models"
    (folder / "older runs").mkdir(parents=True)
    (folder / "notes.txt").write_text("not a checkpoint")
    picked = folder / "column.safetensors"
    shutil.copy(column_checkpoint, picked)
    app.select_tab = "Model"
    app.wait_idle()
    x0, y0, x1, y1 = recorder.rects["Browse...##checkpoint-path"]
    click(app, (x0 + x1) / 2, (y0 + y1) / 2)
    assert file_dialog.in_app_dialog_open()
    browser = file_dialog._BROWSERS[0]
    press(app, imgui.Key.l, ctrl=True)
    imgui.get_io().add_input_characters_utf8(str(folder))
    app.step_frame()
    press(app, imgui.Key.enter)
    assert browser.folder == folder and [e.name for e in browser.visible()] == ["older runs", "column.safetensors"]
    press(app, imgui.Key.down_arrow)
    press(app, imgui.Key.down_arrow)
    assert browser.selected == "column.safetensors"
    press(app, imgui.Key.enter)
    app.step_frame()
    assert not file_dialog.in_app_dialog_open()
    assert app.panel(CheckpointWidget).path_text == str(picked)
    assert app.state.model.source == str(picked)
    app.wait_idle()
    assert app.model.source == str(picked)
