"""A monkey in the window: a minute of random clicks, drags, wheel turns, keys and typed strings in
every text field of every tab, through ImGui's own input queue (issue 16, item 2).

App time is ImGui's clock, stepped by a fixed FRAME_SECONDS per frame (glfw.set_time): the UI sees
the same sequence of events and frame times for a seed, and APP_SECONDS of app time is ~1200 frames
whatever the machine's speed (about 25-45 s of wall time on 2 busy cores, instead of a minute or more
of real time, most of it idle). The render thread runs in real time beside it, as it does for a user
who clicks faster than the renderer, so which pictures arrive when still varies from run to run.
Every text field on screen gets each of the nasty strings (``typed_strings``) on its tab's first
visit, then random input follows. At the end the app must still be running and rendering new pictures, with no
traceback logged. Writes outside the test's folder are refused the way they are for a user without
write access ("/" is writable here only because the suite may run as root).
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

import glfw
import numpy as np
import pytest
from gui_input import ItemRecorder, click, press
from imgui_bundle import imgui

import panohead.atomic
from panohead.editing import Latent, Mixing

pytestmark = pytest.mark.gui
SEED = 16
APP_SECONDS = 60.0
FRAME_SECONDS = 0.05
SIZE = (1280, 800)
KEYS = [
    imgui.Key.left_arrow,
    imgui.Key.right_arrow,
    imgui.Key.up_arrow,
    imgui.Key.down_arrow,
    imgui.Key._3,
    imgui.Key.left_bracket,
    imgui.Key.escape,
    imgui.Key.f1,
    imgui.Key.tab,
    imgui.Key.enter,
    imgui.Key.backspace,
]


def typed_strings(tmp_path: Path) -> tuple[list[str], list[str]]:
    """(strings every text field gets on the first pass, more that the monkey picks from at random)."""
    (tmp_path / "folder" / "nested").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    first = ["/", "..", "~", "", "x" * 3000, "Ünïcødé 头像 😀 ñ", str(tmp_path / "folder"), str(tmp_path / "notes.txt")]
    more = [
        ".",
        "~/",
        "  ",
        "-1",
        "1e309",
        "nan",
        "a/b/../..",
        str(tmp_path / "folder") + "/",
        str(tmp_path / "fake.png"),
        str(tmp_path / "empty.safetensors"),
        str(tmp_path / "missing.npz"),
        "C:\\Users\\me\\head.pkl",
        "*.png",
        "$HOME",
        "name\twith\ttabs",
    ]
    return first, more


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """HOME, caches, config and the working folder in tmp_path; file writes elsewhere refused."""
    home = tmp_path / "home"
    (home / "cwd").mkdir(parents=True)
    for name, folder in {
        "HOME": home,
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local",
        "PANOHEAD_STUDIO_CONFIG_DIR": home / "config",
    }.items():
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("PANOHEAD_STUDIO_FILE_DIALOG", "builtin")
    monkeypatch.chdir(home / "cwd")
    atomic_path = panohead.atomic.atomic_path

    def confined(target):
        folder = Path(os.path.abspath(target)).parent
        if not folder.is_relative_to(tmp_path):
            raise PermissionError(f"{folder}: output folder is not writable")
        return atomic_path(target)

    monkeypatch.setattr(panohead.atomic, "atomic_path", confined)
    return tmp_path


class Monkey:
    """Random input for one app; every action is a few frames of real ImGui events."""

    def __init__(self, app, recorder: ItemRecorder, first: list[str], more: list[str], seed: int) -> None:
        self.app, self.recorder, self.first, self.strings = app, recorder, first, first + more
        self.random = random.Random(seed)
        self.typed: dict[tuple[str, str], set[str]] = {}  # (tab, field) -> the strings it got
        self.quits = 0
        self.actions = 0

    def look(self) -> None:
        """One frame with an empty record, so the recorder holds what is on screen now."""
        self.recorder.clear()
        self.app.step_frame()
        if self.app.window.should_close:  # File > Quit or Ctrl+Q: a user would reopen the app; we keep going
            self.quits += 1
            glfw.set_window_should_close(self.app.window.handle, False)

    def point(self) -> tuple[float, float]:
        return self.random.uniform(0, SIZE[0] - 1), self.random.uniform(0, SIZE[1] - 1)

    def fill(self, field: str, strings: list[str]) -> None:
        """Click ``field``, then type each string over what it holds (a frame each), maybe Enter at the end."""
        click(self.app, *self.recorder.centre(field))
        for text in strings:
            press(self.app, imgui.Key.a, ctrl=True)
            if text:
                imgui.get_io().add_input_characters_utf8(text)
            else:
                press(self.app, imgui.Key.delete)
            self.app.step_frame()
        if self.random.random() < 0.5:
            press(self.app, imgui.Key.enter)
        self.typed.setdefault((self.app.state.ui.tab, field), set()).update(strings)

    def act(self) -> None:
        app, io, roll = self.app, imgui.get_io(), self.random.random()
        self.actions += 1
        self.look()
        fields = self.recorder.text_fields()
        if roll < 0.3 and fields:
            self.fill(self.random.choice(fields), [self.random.choice(self.strings)])
        elif roll < 0.55 and self.recorder.rects:
            click(app, *self.recorder.centre(self.random.choice(sorted(self.recorder.rects))))
        elif roll < 0.65:
            click(app, *self.point())
        elif roll < 0.75:
            (x, y), (x1, y1) = self.point(), self.point()
            io.add_mouse_pos_event(x, y)
            app.step_frame()
            io.add_mouse_button_event(0, True)
            for step in range(1, 6):
                io.add_mouse_pos_event(x + (x1 - x) * step / 5, y + (y1 - y) * step / 5)
                app.step_frame()
            io.add_mouse_button_event(0, False)
            app.step_frame()
        elif roll < 0.85:
            io.add_mouse_pos_event(*self.point())
            io.add_mouse_wheel_event(0.0, self.random.choice([-3.0, -1.0, 1.0, 2.0]))
            app.step_frame()
        else:
            press(app, self.random.choice(KEYS), ctrl=self.random.random() < 0.2)

    def visit(self, tab: str) -> None:
        """Open ``tab`` with a click on it, fill each of its text fields (every string of :attr:`first` on
        the first visit), then act at random."""
        for _attempt in range(3):  # a popup, menu or modal browser left open takes the first click (as for a user)
            self.look()
            click(self.app, *self.recorder.centre(f"{tab}##tab"))
            if self.app.state.ui.tab == tab:
                break
            press(self.app, imgui.Key.f1 if self.app.state.ui.show_help else imgui.Key.escape)
        assert self.app.state.ui.tab == tab, f"three clicks on the {tab} tab did not open it"
        self.look()
        for field in self.recorder.text_fields():
            self.look()
            if field in self.recorder.rects:  # the last string may have changed what the tab shows
                done = self.typed.get((tab, field), set())
                self.fill(
                    field, [text for text in self.first if text not in done] or [self.random.choice(self.strings)]
                )
        for _ in range(6):
            self.act()


def test_a_minute_of_random_input_on_every_tab_leaves_the_app_running_and_rendering(
    display, column_checkpoint, sandbox, monkeypatch, caplog, capfd
):
    from viz.app import App

    caplog.set_level(logging.WARNING)
    app = App(checkpoint=str(column_checkpoint), device="cpu", size=SIZE, vsync=False)
    try:
        recorder = ItemRecorder()
        step_frame = app.step_frame

        def clocked(*args, **kwargs):
            glfw.set_time(glfw.get_time() + FRAME_SECONDS)  # ImGui reads its delta time from this clock
            return step_frame(*args, **kwargs)

        monkeypatch.setattr(app, "step_frame", clocked)
        glfw.set_time(0.0)
        app.step_frame()
        started, wall = imgui.get_time(), time.monotonic()
        monkey = Monkey(app, recorder, *typed_strings(sandbox), SEED)
        tabs = list(app.tabs)
        with recorder.installed(monkeypatch):
            visit = 0
            while imgui.get_time() - started < APP_SECONDS:
                monkey.visit(tabs[visit % len(tabs)])
                visit += 1
        with capfd.disabled():
            print(
                f"\nmonkey: {imgui.get_time() - started:.1f} s of app time, {visit} tab visits, {monkey.actions} "
                f"actions, {len(monkey.typed)} fields typed into, {monkey.quits} quits, "
                f"{time.monotonic() - wall:.1f} s wall; typed into {sorted(monkey.typed)}"
            )
        assert visit >= len(tabs) and {tab for tab, _ in monkey.typed} >= {"Model", "Edit", "Invert", "Train", "Output"}
        covered = sorted(
            f"{tab}{field}" for (tab, field), strings in monkey.typed.items() if strings >= set(monkey.first)
        )
        assert len(covered) >= 8 and "Train##train-data" in covered, covered

        # Still running and rendering: a sane state renders a picture, another yaw renders another. A still
        # picture: the monkey may have left the turntable spinning or keyframes playing (both move the
        # camera every frame, so the renderer would never be idle; CI's run took that path).
        monkeypatch.undo()
        app.editor.stop()
        app.set_state(
            edit={"latent": Latent.from_seed(0), "mixing": Mixing(), "directions": (), "background": None},
            background={"mode": "colour", "colour": (1.0, 0.0, 1.0)},
            view={"target": "head", "mode": "final", "turntable": False},
        )
        app.state.edit = app.state.edit.with_camera(yaw=0.0, radius=2.7)
        app.state.model.source = str(column_checkpoint)
        app.wait_idle(120)
        x0, y0, x1, y1 = app.image_rect
        front = app.read_framebuffer()[y0:y1, x0:x1].astype(np.int16)
        app.state.edit = app.state.edit.with_camera(yaw=90.0)
        app.wait_idle(120)
        side = app.read_framebuffer()[y0:y1, x0:x1].astype(np.int16)
        assert front.shape[0] > 300 and front.std() > 5 and np.abs(side - front).mean() > 1
        assert not app.window.should_close and not app._closed
    finally:
        app.close()
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, "\n".join(logged)
    assert "Traceback" not in capfd.readouterr().err
