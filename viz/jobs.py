"""The viewer's one background-job type: a long task (an export, an inversion, a dataset check, a PNG to
decode) on a worker thread, so the UI keeps drawing meanwhile.

The UI thread starts a :class:`Job`, reads its :attr:`~Job.status`, :attr:`~Job.fraction` and
:attr:`~Job.message` every frame, may call :meth:`~Job.cancel`, and when the job has ended reads its
outcome: :attr:`~Job.value`, or :attr:`~Job.error` as one line for the panel (the traceback of an
unexpected exception goes to the log). The work runs as ``work(job)``: it reports with
:meth:`~Job.report` (which fits where the engine takes a ``progress(fraction)`` callback) and watches
:attr:`~Job.cancel_event` (the engine's ``cancel`` argument). Raising
:class:`panohead.export.tasks.ExportCancelled` ends the job as cancelled; a work that keeps a partial
result on cancel (an inversion keeps its best head so far) returns it instead and ends as done.

Each attribute is written by the worker and read by the UI thread as a whole value, so no lock is
needed; :attr:`~Job.status` is written last, so once it says the job ended the outcome is in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Literal, TypeVar

from panohead.errors import USER_ERRORS, one_line
from panohead.export.tasks import ExportCancelled

log = logging.getLogger(__name__)
T = TypeVar("T")
JobStatus = Literal["running", "done", "cancelled", "failed"]


def _nothing() -> None:
    pass


class Job(Generic[T]):
    """One ``work(job) -> T`` on its own daemon thread; create it with :meth:`start`."""

    def __init__(
        self,
        description: str,
        work: Callable[[Job[T]], T],
        on_change: Callable[[], None],
        on_end: Callable[[Job[T]], None] | None,
    ) -> None:
        self.description = description  # e.g. "mesh 256^3 (.ply)", shown beside the progress bar
        self.status: JobStatus = "running"
        self.fraction = 0.0  # of the whole work, in [0, 1]
        self.message = ""  # what the work is doing now, e.g. "stage 1: latent  12/100"
        self.value: T | None = None  # the work's result, once done
        self.error: str | None = None  # one line, once failed
        self.cancel_event = threading.Event()
        self._work, self._on_change, self._on_end = work, on_change, on_end
        self._started = time.monotonic()
        self._ended: float | None = None
        self._eta: tuple[float, float] | None = None  # (seconds left, when reported)
        self._thread = threading.Thread(target=self._run, name=f"panohead-job: {description}", daemon=True)

    @classmethod
    def start(
        cls,
        description: str,
        work: Callable[[Job[T]], T],
        on_change: Callable[[], None] = _nothing,
        on_end: Callable[[Job[T]], None] | None = None,
    ) -> Job[T]:
        """Run ``work(job)`` on a new thread. ``on_change()`` runs on the worker after each report and at
        the end (to wake the UI loop); ``on_end(job)`` runs on the worker once the outcome is set."""
        job = cls(description, work, on_change, on_end)
        job._thread.start()
        return job

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def elapsed(self) -> float:
        """Seconds since the start, up to the end once the job has ended."""
        return (self._ended if self._ended is not None else time.monotonic()) - self._started

    @property
    def eta(self) -> float | None:
        """Seconds left by the work's newest estimate; None when it gave none or the job has ended."""
        if self._eta is None or not self.running:
            return None
        left, when = self._eta
        return max(0.0, left - (time.monotonic() - when))

    def report(self, fraction: float, message: str | None = None, eta: float | None = None) -> None:
        """Called by the work: ``fraction`` of it is done (clamped to [0, 1]); ``message`` replaces the
        current one when given; ``eta``: the work's own estimate of the seconds left."""
        self.fraction = min(max(fraction, 0.0), 1.0)
        if message is not None:
            self.message = message
        if eta is not None:
            self._eta = (eta, time.monotonic())
        self._on_change()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self.cancel_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True if it ended within ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        status: JobStatus
        try:
            self.value = self._work(self)
            status = "done"
        except ExportCancelled:
            status = "cancelled"
        except USER_ERRORS as error:
            self.error, status = one_line(error), "failed"
        except Exception as error:  # a bug: one line in the app, the traceback in the log
            log.exception("%s failed", self.description)
            self.error, status = f"internal error: {type(error).__name__}: {one_line(error)}", "failed"
        self._ended = time.monotonic()
        self.status = status
        if self._on_end is not None:
            self._on_end(self)
        self._on_change()


def file_outcome(job: Job[Path] | Job[Path | None], noun: str, done: str) -> tuple[str, bool]:
    """(message, is_error) saying how a job that writes one file ended: ("exported PATH", False) for
    ``done`` "exported", ("export failed: WHY", True) or ("export cancelled; nothing was written", False)
    for ``noun`` "export"."""
    if job.status == "done":
        return f"{done} {job.value}", False
    if job.status == "failed":
        return f"{noun} failed: {job.error}", True
    return f"{noun} cancelled; nothing was written", False
