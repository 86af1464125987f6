"""Seed browser: render a range of seeds from four yaws, score each head for PanoHead's artifacts
(mirrored face, multi-view inconsistency), rank and flag the worst, export a table and a contact sheet."""

from panohead.browser.scan import (
    CPU_RESOLUTION,
    YAWS,
    HeadViews,
    SeedScore,
    default_batch,
    default_page,
    default_resolution,
    scan_seeds,
    score_heads,
    score_seeds,
)
from panohead.browser.sheet import LAYOUTS, SheetLayout, contact_sheet
from panohead.browser.table import SORT_KEYS, SortKey, filtered, ranked, read_table, worst, write_table

__all__ = [
    "CPU_RESOLUTION",
    "LAYOUTS",
    "SORT_KEYS",
    "YAWS",
    "HeadViews",
    "SeedScore",
    "SheetLayout",
    "SortKey",
    "contact_sheet",
    "default_batch",
    "default_page",
    "default_resolution",
    "filtered",
    "ranked",
    "read_table",
    "scan_seeds",
    "score_heads",
    "score_seeds",
    "worst",
    "write_table",
]
