"""Ending the app by signal the way its close button does."""

from __future__ import annotations

import signal
from typing import Protocol


class Closable(Protocol):
    def request_close(self) -> None: ...


class TerminationRequest:
    """SIGTERM (``kill``, a logout) and SIGHUP (the terminal closed) end the app the way its close button
    does, so the settings and the window's layout are saved; Python's default would kill it on the spot.

    Created before the slow imports (torch, the engine, the GUI libraries take seconds), so a signal that
    arrives while the app is still starting is remembered and closes the window as soon as it exists,
    instead of killing the process half-started. The handler only asks: the frame loop waits at most a
    frame interval for events, then sees the request.
    """

    def __init__(self) -> None:
        self.requested = False
        self._window: Closable | None = None
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, self._request)

    def attach(self, window: Closable) -> None:
        """Route requests to ``window`` from now on, and pass on one that came before it existed."""
        self._window = window
        if self.requested:
            window.request_close()

    def _request(self, signum: int, frame: object) -> None:
        self.requested = True
        if self._window is not None:
            self._window.request_close()
