"""Drive the app through ImGui's own input queue, as a user would, and find widgets by their labels.

:class:`ItemRecorder` wraps imgui's item functions for as long as it is installed and notes where each
item was drawn in the last frame, so a test can click a field by its label instead of by coordinates
that move whenever a panel changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from imgui_bundle import imgui

# Items a user can click or type into; begin_tab_item and collapsing_header too, to reach every tab.
RECORDED = (
    "input_text",
    "input_text_with_hint",
    "input_int",
    "input_float",
    "button",
    "small_button",
    "image_button",
    "checkbox",
    "radio_button",
    "slider_float",
    "slider_int",
    "slider_float2",
    "drag_float",
    "drag_float3",
    "combo",
    "selectable",
    "begin_tab_item",
    "collapsing_header",
    "tree_node",
    "color_edit3",
    "menu_item_simple",
)
TEXT_FIELDS = ("input_text", "input_text_with_hint")


class ItemRecorder:
    """``rects[label] = (kind, x0, y0, x1, y1)`` of every recorded item drawn since :meth:`clear`."""

    def __init__(self) -> None:
        self.rects: dict[str, tuple[str, float, float, float, float]] = {}
        self.arguments: dict[str, tuple] = {}  # label -> the rest of the call's arguments (a checkbox's value, ...)

    def clear(self) -> None:
        self.rects, self.arguments = {}, {}

    def _wrap(self, kind: str, original):
        def recorded(*args, **kwargs):
            value = original(*args, **kwargs)
            label = args[0] if args and isinstance(args[0], str) else kwargs.get("label", "")
            low, high = imgui.get_item_rect_min(), imgui.get_item_rect_max()
            if high.x > low.x and high.y > low.y and imgui.is_item_visible():
                self.rects[label] = (kind, low.x, low.y, high.x, high.y)
                self.arguments[label] = args[1:]
            return value

        return recorded

    @contextlib.contextmanager
    def installed(self, monkeypatch) -> Iterator[ItemRecorder]:
        for kind in RECORDED:
            monkeypatch.setattr(imgui, kind, self._wrap(kind, getattr(imgui, kind)))
        yield self

    def centre(self, label: str) -> tuple[float, float]:
        _, x0, y0, x1, y1 = self.rects[label]
        return (x0 + x1) / 2, (y0 + y1) / 2

    def text_fields(self) -> list[str]:
        return [label for label, (kind, *_) in self.rects.items() if kind in TEXT_FIELDS]


def click(app, x: float, y: float) -> None:
    """Move to (x, y), press and release the left button: a frame each, as a hand would."""
    io = imgui.get_io()
    io.add_mouse_pos_event(x, y)
    app.step_frame()
    io.add_mouse_button_event(0, True)
    app.step_frame()
    io.add_mouse_button_event(0, False)
    app.step_frame()


def press(app, key, ctrl: bool = False, shift: bool = False) -> None:
    """Press and release ``key`` (with Ctrl and/or Shift held), a frame each."""
    io = imgui.get_io()
    for modifier, held in ((imgui.Key.mod_ctrl, ctrl), (imgui.Key.mod_shift, shift)):
        if held:
            io.add_key_event(modifier, True)
    io.add_key_event(key, True)
    app.step_frame()
    io.add_key_event(key, False)
    for modifier, held in ((imgui.Key.mod_ctrl, ctrl), (imgui.Key.mod_shift, shift)):
        if held:
            io.add_key_event(modifier, False)
    app.step_frame()


def type_into(app, recorder: ItemRecorder, label: str, text: str, enter: bool = False) -> None:
    """Click the field ``label``, select what it holds, type ``text`` over it (and press Enter)."""
    click(app, *recorder.centre(label))
    press(app, imgui.Key.a, ctrl=True)
    if text:
        imgui.get_io().add_input_characters_utf8(text)
    else:
        press(app, imgui.Key.delete)
    app.step_frame()
    if enter:
        press(app, imgui.Key.enter)
