"""Small drawing helpers shared by the widgets: labelled rows, hints, coloured status text."""
from __future__ import annotations

from imgui_bundle import imgui

GOOD = imgui.ImVec4(0.45, 0.85, 0.45, 1.0)
WARN = imgui.ImVec4(0.95, 0.75, 0.30, 1.0)
ERROR = imgui.ImVec4(1.0, 0.42, 0.38, 1.0)
MUTED = imgui.ImVec4(0.62, 0.64, 0.68, 1.0)
LABEL_WIDTH = 92.0  # logical pixels at scale 1


def label(text: str, scale: float) -> None:
    """Left-hand label of a form row; the next widget fills the rest of the line."""
    imgui.align_text_to_frame_padding()
    imgui.text(text)
    imgui.same_line(LABEL_WIDTH * scale)
    imgui.set_next_item_width(-1)


def hint(text: str, colour: imgui.ImVec4 = MUTED) -> None:
    """Wrapped text in ``colour``: a muted explanation under a control, or a warning or error line."""
    imgui.push_style_color(imgui.Col_.text, colour)
    imgui.text_wrapped(text)
    imgui.pop_style_color()


def buttons_row(labels: list[str], id_suffix: str = "") -> int | None:
    """Equal-width buttons filling the line; returns the index clicked, if any."""
    spacing = imgui.get_style().item_spacing.x
    width = (imgui.get_content_region_avail().x - spacing * (len(labels) - 1)) / len(labels)
    clicked = None
    for index, text in enumerate(labels):
        if index:
            imgui.same_line()
        if imgui.button(f"{text}##{id_suffix}{index}", imgui.ImVec2(width, 0)):
            clicked = index
    return clicked


def radio_row(current: str, choices: list[tuple[str, str]], id_suffix: str) -> str:
    """Radio buttons on one line; ``choices`` are (value, text); returns the selected value."""
    for index, (value, text) in enumerate(choices):
        if index:
            imgui.same_line()
        if imgui.radio_button(f"{text}##{id_suffix}", current == value):
            current = value
    return current
