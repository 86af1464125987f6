"""One long export (a mesh, a turntable) on a worker thread, so the UI keeps drawing meanwhile.

The UI thread starts a task, reads :attr:`ExportTask.fraction` and :attr:`ExportTask.status` every
frame and may call :meth:`ExportTask.cancel`; the exporters stop at their next check and leave no
file behind (:mod:`panohead.export.tasks`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from panohead.errors import USER_ERRORS, one_line
from panohead.export.tasks import ExportCancelled, FractionReport

log = logging.getLogger(__name__)
Work = Callable[[FractionReport, threading.Event], Path | None]


class ExportTask:
    """Runs ``work(progress, cancel) -> written path`` on its own thread (None: the work kept its
    result in memory, e.g. an asset to preview before it is saved).

    ``on_progress()`` runs on the worker after each progress report (to wake the UI loop) and
    ``on_finish(task)`` once when the work has ended, whatever the outcome.
    """

    def __init__(
        self,
        description: str,
        work: Work,
        on_finish: Callable[[ExportTask], None],
        on_progress: Callable[[], None] = lambda: None,
    ) -> None:
        self.description = description  # e.g. "mesh 256^3 (.ply)", shown beside the progress bar
        self.fraction = 0.0
        self.status = "running"  # then "done", "cancelled" or "failed"
        self.path: Path | None = None
        self.error: str | None = None
        self._work, self._on_finish, self._on_progress = work, on_finish, on_progress
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panohead-export", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self.status == "running"

    def cancel(self) -> None:
        self._cancel.set()

    def outcome(self, noun: str, done: str) -> tuple[str, bool]:
        """(message, is_error) saying how the task ended, e.g. ("exported PATH", False) for ``done``
        "exported", or ("export failed: WHY", True) and ("export cancelled; nothing was written", False)
        for ``noun`` "export"."""
        if self.status == "done":
            return f"{done} {self.path}", False
        if self.status == "failed":
            return f"{noun} failed: {self.error}", True
        return f"{noun} cancelled; nothing was written", False

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True if it finished within ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, fraction: float) -> None:
        self.fraction = fraction
        self._on_progress()

    def _run(self) -> None:
        try:
            self.path = self._work(self._progress, self._cancel)
            self.status = "done"
        except ExportCancelled:
            self.status = "cancelled"
        except USER_ERRORS as error:
            self.error, self.status = one_line(error), "failed"
        except Exception as error:  # a bug: report it in the app, keep the traceback in the log
            log.exception("export failed")
            self.error, self.status = f"internal error: {type(error).__name__}: {one_line(error)}", "failed"
        self._on_finish(self)
