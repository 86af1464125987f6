"""Contact sheet of browsed heads: one row per seed (in the order given), its views side by side,
the seed and its scores beside the row, flagged rows framed in red."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from panohead.browser.scan import YAWS, HeadViews
from panohead.images import labelled_grid

SheetLayout = Literal["front-back", "strip"]  # the contact sheet's columns: front and back, or all four yaws
# Layout -> indices into scan.YAWS of the views shown.
LAYOUTS: dict[SheetLayout, tuple[int, ...]] = {"front-back": (0, 2), "strip": (0, 1, 2, 3)}
FLAG_RGB = (220, 40, 40)


def framed(image: np.ndarray, width: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 with a FLAG_RGB frame ``width`` pixels wide drawn inside its border."""
    image = image.copy()
    image[:width], image[-width:], image[:, :width], image[:, -width:] = FLAG_RGB, FLAG_RGB, FLAG_RGB, FLAG_RGB
    return image


def score_text(value: float, digits: int, unit: str = "") -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}{unit}"


def row_label(head: HeadViews, flagged: bool) -> str:
    score = head.score
    mark = "worst " if flagged else ""
    return f"{mark}seed {score.seed}  mirror {score_text(score.mirror, 2)}  {score_text(score.consistency, 1, ' dB')}"


def contact_sheet(
    heads: Sequence[HeadViews], layout: SheetLayout = "front-back", flagged: frozenset[int] = frozenset()
) -> np.ndarray:
    """(H, W, 3) uint8 sheet of ``heads`` with the views ``layout`` names (see LAYOUTS)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if not heads:
        raise ValueError("the contact sheet needs at least one head")
    columns = LAYOUTS[layout]
    images = []
    for head in heads:
        mark = head.score.seed in flagged
        images.extend(framed(head.thumbnails[k]) if mark else head.thumbnails[k] for k in columns)
    return labelled_grid(
        images,
        len(columns),
        [row_label(head, head.score.seed in flagged) for head in heads],
        [f"yaw {YAWS[k]:g}" for k in columns],
    )
