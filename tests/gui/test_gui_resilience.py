"""No widget and no settings file can take the app down (issue 16, item 2).

A panel that raises is contained: the ImGui scopes it opened are closed, its error is one line in
its own place and in the log with the traceback, and every other part of the app goes on. Settings
that fail validation are skipped field by field with one message. Same Xvfb fixtures as the other GUI
tests (tests/gui/conftest.py).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from gui_input import ItemRecorder, type_into
from imgui_bundle import imgui

from tests.gui.conftest import WINDOW
from viz.settings import SETTINGS_NAME
from viz.training_widget import TrainingWidget
from viz.truncation_widget import TruncationWidget

pytestmark = pytest.mark.gui


def test_typing_a_slash_as_the_training_dataset_says_why_in_the_form_and_the_app_goes_on(app, monkeypatch, caplog):
    panel = app.panel(TrainingWidget)
    panel.view.monitor = None  # the start form is the panel
    app.select_tab = "Train"
    recorder = ItemRecorder()
    with recorder.installed(monkeypatch):
        app.step_frame()
        app.step_frame()
        type_into(app, recorder, "##train-data", "/")
        app.step_frame()
    assert app.state.training.data == "/"
    assert (
        panel.form.masks_line
        == "no masks: /: the filesystem root is not a dataset (choose the dataset's folder or zip)"
    )
    assert not app.failures and not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_panel_that_raises_mid_draw_shows_its_error_in_place_and_the_rest_keeps_working(app, monkeypatch, caplog):
    panel = app.panel(TruncationWidget)
    app.select_tab = panel.tab
    app.wait_idle()

    def broken(show: bool) -> None:
        if show:  # leave every kind of scope open, then fail
            imgui.begin_disabled(True)
            imgui.push_style_color(imgui.Col_.text, imgui.ImVec4(1, 0, 0, 1))
            imgui.push_id("inner")
            imgui.begin_child("##child", imgui.ImVec2(100, 40))
            imgui.tree_node("tree")
        raise KeyError("psi")

    monkeypatch.setattr(type(panel), "__call__", lambda self, show: broken(show))
    with caplog.at_level(logging.ERROR, logger="viz.app"):
        for _ in range(3):
            app.step_frame()
    assert app.failures[panel] == "Truncation: internal error: KeyError: 'psi'"
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1 and records[0].exc_info[0] is KeyError  # logged once, with its traceback
    assert app.messages()[-1].text == app.failures[panel] and app.messages()[-1].error
    before = app.read_framebuffer().astype(np.int16)
    app.state.edit = app.state.edit.with_camera(yaw=120.0)  # the view still renders new pictures
    app.wait_idle()
    assert np.abs(app.read_framebuffer().astype(np.int16) - before).mean() > 1
    monkeypatch.undo()
    app.step_frame()
    assert panel not in app.failures  # fixed: the line goes away


def test_errors_remembered_as_logged_are_bounded_and_a_repeated_one_is_logged_once(app, caplog):
    """The set of logged error lines grew by one for every distinct line (a changing number in the message) for as
    long as the app ran; it keeps the most recent LOGGED_LINES, and a line still failing is not logged again."""
    from viz.app import LOGGED_LINES

    panel = app.panel(TruncationWidget)

    def fail(text: str) -> None:
        with app.contained(panel):
            raise ValueError(text)

    with caplog.at_level(logging.ERROR, logger="viz.app"):
        for index in range(3 * LOGGED_LINES):
            fail(f"frame {index}")
            fail("the same every frame")
    assert len(app._logged.items) == LOGGED_LINES
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 3 * LOGGED_LINES + 1
    assert app.failures[panel] == "Truncation: internal error: ValueError: the same every frame"


def test_settings_that_fail_validation_are_skipped_one_by_one_and_the_train_tab_opens(
    display, column_checkpoint, tmp_path, monkeypatch
):
    from viz.app import App

    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(config))
    (config / SETTINGS_NAME).write_text(
        json.dumps(
            {
                "training": {"data": "/", "gpus": "two"},
                "camera": {"yaw": 45.0, "radius": -3.0},
                "latent": {"psi": float("nan")},
                "panels_v0": {"open": True},
            }
        )
    )
    application = App(checkpoint=str(column_checkpoint), device="cpu", size=WINDOW, vsync=False)
    try:
        state = application.state
        assert state.training.data == "/" and state.edit.camera.yaw == 45.0  # valid fields are kept
        assert (state.training.gpus, state.edit.camera.radius, state.edit.psi) == (1, 2.7, 0.7)  # the others: defaults
        warning = application.messages()[0]
        assert warning.error and warning.text.startswith(f"{config / SETTINGS_NAME}: ignored 4 settings (panels_v0 ")
        application.select_tab = "Train"
        for _ in range(3):
            application.step_frame()
        assert not application.failures
    finally:
        application.close()
    saved = json.loads((config / SETTINGS_NAME).read_text())
    assert saved["edit"]["camera"]["radius"] == 2.7 and "panels_v0" not in saved and "camera" not in saved
