"""Every side-panel tab is in sight and one click away at 1280x800, the splitter shows itself, and the
README names the tabs the UI has (issue 16, item 5). Same Xvfb fixtures as the other GUI tests
(tests/gui/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gui_input import ItemRecorder, click
from imgui_bundle import imgui

pytestmark = pytest.mark.gui
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def small_app(display, column_checkpoint, tmp_path, monkeypatch):
    from viz.app import App

    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    application = App(checkpoint=str(column_checkpoint), device="cpu", size=(1280, 800), vsync=False)
    yield application
    application.close()


def tab_rect(recorder: ItemRecorder, name: str) -> tuple[float, float, float, float]:
    """Where the tab called ``name`` was drawn, whatever widget draws tabs."""
    found = [
        rect
        for label, (kind, *rect) in recorder.rects.items()
        if label.split("##")[0] == name and kind in ("button", "begin_tab_item", "selectable")
    ]
    assert found, f"the {name} tab was not drawn where it can be seen"
    return found[0]


def test_every_tab_is_in_sight_and_opens_with_one_click_at_1280x800(small_app, monkeypatch):
    app = small_app
    recorder = ItemRecorder()
    with recorder.installed(monkeypatch):
        app.wait_idle()
        assert list(app.tabs) == [
            "Model",
            "Edit",
            "Camera",
            "View",
            "Inspect",
            "Browse",
            "Compare",
            "Output",
            "Stats",
            "Invert",
            "Train",
        ]
        for name in reversed(list(app.tabs)):  # from the last tab, the one most likely to be out of sight
            recorder.clear()
            app.step_frame()
            x0, y0, x1, y1 = tab_rect(recorder, name)
            assert 0 <= x0 and x1 <= 1280 and 0 <= y0 and y1 <= 800 and x1 - x0 >= 30  # whole and wide enough
            recorder.clear()
            click(app, (x0 + x1) / 2, (y0 + y1) / 2)
            assert app.state.ui.tab == name
            assert app.tabs[name][0].title in recorder.rects  # its first panel's header is drawn


def test_the_default_window_fits_a_1280x800_screen(display, column_checkpoint, tmp_path, monkeypatch):
    """The 1600x1000 default opened larger than a 1280x800 screen: the side panel and its tabs were off-screen."""
    from viz.app import App

    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    application = App(checkpoint=str(column_checkpoint), device="cpu", vsync=False)
    try:
        assert application.state.ui.window_size == (1600, 1000)  # the default asked for
        width, height = application.window.size
        assert (width, height) == (1280, 800)
        assert application.read_framebuffer().shape[:2] == (800, 1280)
    finally:
        application.close()


def test_the_splitter_lights_up_under_the_mouse(small_app):
    app = small_app
    app.wait_idle()
    io = imgui.get_io()
    edge = 1280 - app.state.ui.sidebar_width * app.scale  # the side panel's left edge, in window pixels
    strip = slice(int(edge - 5 * app.scale), int(edge - 1))
    io.add_mouse_pos_event(200, 300)
    away = app.read_framebuffer()[100:700, strip].astype(np.int16)
    io.add_mouse_pos_event(edge - 3 * app.scale, 300)
    app.step_frame()
    hovered = app.read_framebuffer()[100:700, strip].astype(np.int16)
    assert np.abs(hovered - away).mean() > 40  # the whole strip, not one pixel, changes colour
    assert away.std(axis=1).max() > 10  # unhovered, a hairline still marks the edge


def test_the_readme_names_the_tabs_the_side_panel_has(small_app):
    text = README.read_text()
    paragraph = text[text.index("The side panel's tabs") :].split("\n\n")[0]
    named = [name for name in re.findall(r"\*\*([A-Z][a-z]+)\*\*", paragraph)]
    assert list(dict.fromkeys(named)) == list(small_app.tabs)


def test_on_a_cpu_the_stats_tab_shows_what_runs_and_cannot_change_it(small_app, monkeypatch):
    app = small_app
    assert app.cpu_mode and (app.state.model.precision, app.state.model.cuda_graphs) == ("fp16", True)  # defaults
    recorder = ItemRecorder()
    app.select_tab = "Stats"
    with recorder.installed(monkeypatch):
        app.wait_idle()
        recorder.clear()
        app.step_frame()
        shown = {label: recorder.arguments[label][0] for label in ("FP32##precision", "FP16##precision", "CUDA graphs")}
        assert shown == {"FP32##precision": True, "FP16##precision": False, "CUDA graphs": False}
        click(app, *recorder.centre("TF32##precision"))
        click(app, *recorder.centre("CUDA graphs"))
    assert (app.state.model.precision, app.state.model.cuda_graphs) == ("fp16", True)  # kept for a GPU, inert here
