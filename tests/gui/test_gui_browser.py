"""The seed browser and live scores in a real window (Xvfb + Mesa), on the tiny column model of test_gui_app."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gui_input import ItemRecorder, click

from panohead.browser import read_table
from panohead.editing import Latent
from tests.gui.test_gui_app import view_pixels
from tests.gui.test_gui_editing import run_until

pytestmark = pytest.mark.gui


def browsed(app, first: int = 0, count: int = 4):
    from viz.browser_widget import BrowserWidget

    browser = app.panel(BrowserWidget)
    app.select_tab = BrowserWidget.tab
    browser.start(first, count)
    run_until(app, lambda: browser.done)
    return browser


def sidebar(app) -> np.ndarray:
    app.wait_idle()
    return app.read_framebuffer()[:, app.image_rect[2] + 4 :].astype(np.int16)


def test_browser_lists_sorts_and_a_click_opens_the_seed(app, monkeypatch):
    from viz.browser_widget import BrowserWidget

    app.select_tab = BrowserWidget.tab
    empty = sidebar(app)
    browser = browsed(app)
    assert sorted(browser.heads) == [0, 1, 2, 3]
    assert np.abs(sidebar(app) - empty).sum(axis=-1).astype(bool).sum() > 4 * 40 * 40  # four thumbnails drawn
    mirror = [s.mirror for s in browser.ordered()]
    assert all(not math.isnan(m) for m in mirror) and mirror == sorted(mirror, reverse=True)
    browser.sort_key, browser.worst_first = "seed", False
    assert [s.seed for s in browser.ordered()] == [3, 2, 1, 0]
    before = view_pixels(app)
    with ItemRecorder().installed(monkeypatch) as recorder:
        app.step_frame()
        click(app, *recorder.centre("##front2"))
    assert app.state.edit.latent == Latent.from_seed(2)
    assert np.abs(view_pixels(app) - before).mean() > 2  # the view shows another head


def test_browser_filters_and_exports_the_shown_order(app, tmp_path):
    browser = browsed(app, first=5, count=3)
    browser.sort_key = "consistency"
    order = browser.ordered()
    table, flagged = read_table(browser.export("csv"))
    assert [s.seed for s in table] == [s.seed for s in order] and flagged == browser.flagged()
    assert read_table(browser.export("json"))[1] == flagged
    assert browser.export("sheet").stat().st_size > 1000
    browser.max_mirror = min(s.mirror for s in order) - 1e-6
    assert browser.ordered() == [] or all(math.isnan(s.mirror) for s in browser.ordered())


def test_live_scores_follow_the_seed_and_ignore_the_camera(app, column_checkpoint):
    from panohead.browser import CPU_RESOLUTION, score_seeds
    from panohead.checkpoint import load_generator
    from viz.scores_widget import ScoresWidget

    scores = app.panel(ScoresWidget)
    app.select_tab = ScoresWidget.tab
    app.set_state(edit={"latent": Latent.from_seed(3), "psi": 0.7})
    run_until(app, lambda: scores.current)
    generator = load_generator(column_checkpoint)
    expected = score_seeds(generator, [3], 0.7, resolution=CPU_RESOLUTION)[0].score
    assert scores.score.mirror == pytest.approx(expected.mirror, abs=1e-4)
    assert scores.score.consistency == pytest.approx(expected.consistency, abs=1e-3)
    first = scores.score
    app.set_state(edit={"camera": app.state.edit.with_camera(yaw=120.0).camera})
    app.wait_idle()
    assert scores.current and scores.score is first  # orbiting does not rescore
    app.set_state(edit={"latent": Latent.from_seed(4)})
    run_until(app, lambda: scores.current)
    assert scores.score.seed == 4 and scores.score.mirror != first.mirror


def test_a_restarted_browse_drops_the_batch_of_the_browse_before(app):
    from viz.browser_widget import BrowserWidget

    browser = app.panel(BrowserWidget)
    browser.start(0, 2)
    app.step_frame()  # seed 0 is now being scored on the render thread
    assert browser.in_flight
    browser.start(10, 2)
    run_until(app, lambda: browser.done)
    assert sorted(browser.heads) == [10, 11]


def test_the_first_thumbnail_shows_while_the_rest_of_the_page_is_scored(app, monkeypatch):
    """Progressive browsing on the CPU: one seed per task, each drawn as soon as it is scored."""
    from imgui_bundle import imgui

    from viz.browser_widget import BrowserWidget

    browser = app.panel(BrowserWidget)
    app.select_tab = BrowserWidget.tab
    empty = app.read_framebuffer().astype(np.int16)
    browser.start(0, 4)
    run_until(app, lambda: browser.heads)
    with ItemRecorder().installed(monkeypatch) as recorder:
        frame = app.read_framebuffer().astype(np.int16)
    assert not browser.done and 1 <= len(browser.heads) < 4  # the page is not complete yet
    seed = min(browser.heads)
    scale = imgui.get_io().display_framebuffer_scale.x
    _, x0, y0, x1, y1 = recorder.rects[f"##front{seed}"]
    cell = (slice(round(y0 * scale) + 4, round(y1 * scale) - 4), slice(round(x0 * scale) + 4, round(x1 * scale) - 4))
    changed = np.abs(frame[cell] - empty[cell]).sum(axis=-1) > 0
    assert changed.mean() > 0.5  # the thumbnail is drawn where the grid was empty
    run_until(app, lambda: browser.done)
    assert sorted(browser.heads) == [0, 1, 2, 3]
