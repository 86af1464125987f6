"""Small drawing helpers shared by the widgets: labelled rows, hints, coloured status text, the tab grid."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from imgui_bundle import imgui, imgui_ctx

if TYPE_CHECKING:
    from viz.jobs import Job

Choice = TypeVar("Choice")  # the value type of a row of radio buttons (often a Literal alias)

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


@contextlib.contextmanager
def disabled(condition: bool) -> Iterator[None]:
    """Controls drawn inside are greyed out and inert when ``condition``; the end_disabled is never skipped."""
    imgui.begin_disabled(condition)
    try:
        yield
    finally:
        imgui.end_disabled()


def hint(text: str, colour: imgui.ImVec4 = MUTED) -> None:
    """Wrapped text in ``colour``: a muted explanation under a control, or a warning or error line."""
    imgui.push_style_color(imgui.Col_.text, colour)
    imgui.text_wrapped(text)
    imgui.pop_style_color()


def duration(seconds: float) -> str:
    """A span of time for a status line: "4m05s", or "2h07m" from an hour on."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def job_progress(job: Job) -> None:
    """A running job's progress bar (its description and percentage on it) with a Cancel button after it."""
    cancel_width = imgui.calc_text_size("Cancel").x + imgui.get_style().frame_padding.x * 2
    bar_width = imgui.get_content_region_avail().x - cancel_width - imgui.get_style().item_spacing.x
    imgui.progress_bar(job.fraction, imgui.ImVec2(bar_width, 0), f"{job.description}  {job.fraction:.0%}")
    imgui.same_line()
    if imgui.button("Cancel"):
        job.cancel()


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


def radio_row(current: Choice, choices: Sequence[tuple[Choice, str]], id_suffix: str) -> Choice:
    """Radio buttons on one line, wrapping (aligned under the first) where the panel is too narrow;
    ``choices`` are (value, text); returns the selected value."""
    start_x, inner = imgui.get_cursor_pos_x(), imgui.get_style().item_inner_spacing.x
    for index, (value, text) in enumerate(choices):
        if index:
            imgui.same_line()
            if imgui.get_content_region_avail().x < imgui.get_frame_height() + inner + imgui.calc_text_size(text).x:
                imgui.new_line()
                imgui.set_cursor_pos_x(start_x)
        if imgui.radio_button(f"{text}##{id_suffix}", current == value):
            current = value
    return current


def tab_grid(names: list[str], current: str) -> str:
    """The side panel's tabs as equal-width buttons on as many rows as the width needs, so that every tab
    is in sight and one click away at any window size (ImGui's tab bar scrolls extra tabs behind arrows).
    Returns the selected name."""
    style = imgui.get_style()
    spacing, avail = style.item_spacing.x, imgui.get_content_region_avail().x
    widest = max(imgui.calc_text_size(name).x for name in names) + 2 * style.frame_padding.x
    rows = math.ceil(len(names) / max(1, int((avail + spacing) // (widest + spacing))))
    per_row = math.ceil(len(names) / rows)  # balanced rows: 9 tabs on 2 rows are 5 + 4, not 8 + 1
    width = (avail - spacing * (per_row - 1)) / per_row
    for index, name in enumerate(names):
        if index % per_row:
            imgui.same_line()
        colour = style.color_(imgui.Col_.tab_selected if name == current else imgui.Col_.tab)
        with imgui_ctx.push_style_color(imgui.Col_.button, colour):
            if imgui.button(f"{name}##tab", imgui.ImVec2(width, 0)):
                current = name
    return current
