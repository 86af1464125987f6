"""Progress reporting and cancellation for long exports, so the app can run them in a worker thread.

An export takes an optional ``progress(fraction)`` callback (fraction in [0, 1], non-decreasing) and an
optional ``cancel`` event (``threading.Event``); when the event is set the export stops at the next
check by raising :class:`ExportCancelled`, and nothing it was writing is left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

FractionReport = Callable[[float], None]


class ExportCancelled(Exception):
    """The user cancelled an export; no output file was written."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("export cancelled")


def report(progress: FractionReport | None, fraction: float) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0))


def stage(progress: FractionReport | None, start: float, end: float) -> FractionReport | None:
    """A callback that maps a stage's own 0..1 onto ``start..end`` of the whole export."""
    if progress is None:
        return None
    return lambda fraction: report(progress, start + (end - start) * fraction)
