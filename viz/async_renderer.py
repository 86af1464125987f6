"""Runs the renderer on its own thread so the UI never waits for a frame.

The UI thread calls :meth:`AsyncRenderer.submit` every frame with the current request; equal requests
are ignored, and only the newest waiting request is kept (stale ones are dropped unrendered). Each
request is rendered in passes (on a CPU a fast preview, then full quality) and a newer request
interrupts the remaining passes. One-off jobs (a full-resolution capture) run before the live view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from viz.renderer import Quality, RenderResult
from viz.request import RenderRequest

log = logging.getLogger(__name__)
RenderFunction = Callable[[RenderRequest, str], RenderResult]
IDLE_AFTER = 1.0  # seconds without a finished live frame after which the renderer counts as idle


class AsyncRenderer:
    def __init__(
        self,
        render_fn: RenderFunction,
        passes: tuple[Quality, ...] = ("full",),
        on_result: Callable[[], None] = lambda: None,
    ) -> None:
        self.render_fn = render_fn  # swappable (tests wrap it to slow it down)
        self.passes = passes
        self.on_result = on_result  # called on the render thread after each result (wakes the UI loop)
        self._condition = threading.Condition()
        self._pending: RenderRequest | None = None
        self._submitted: RenderRequest | None = None
        self._jobs: deque[Callable[[], None]] = deque()
        self._result: RenderResult | None = None
        self._busy = False
        self._stopping = False
        self._finish_times: deque[float] = deque(maxlen=30)  # of the current run of frames
        self._fps: float | None = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="panohead-renderer", daemon=True)
        self._thread.start()

    def submit(self, request: RenderRequest) -> None:
        """Ask for ``request``; a no-op when it equals the last one submitted."""
        with self._condition:
            if request == self._submitted:
                return
            if self._pending is not None:
                self.dropped += 1
            self._submitted = self._pending = request
            self._condition.notify()

    def submit_job(self, request: RenderRequest, done: Callable[[RenderResult], None]) -> None:
        """Render ``request`` at full quality once; ``done(result)`` runs on the render thread."""
        self.submit_task(lambda: done(self.render_fn(request, "full")))

    def submit_task(self, task: Callable[[], None]) -> None:
        """Run ``task()`` once on the render thread, before the live view (it may use the renderer's
        models and caches, which only that thread touches). It reports its own outcome; an exception
        it lets escape is logged and the thread goes on."""
        with self._condition:
            self._jobs.append(task)
            self._condition.notify()

    def take_result(self) -> RenderResult | None:
        """The newest finished live result not yet taken, or None."""
        with self._condition:
            result, self._result = self._result, None
            return result

    @property
    def idle(self) -> bool:
        """Nothing waiting, nothing being rendered."""
        with self._condition:
            return not self._busy and self._pending is None and not self._jobs

    @property
    def fps(self) -> float | None:
        """Finished live frames per second over the last (up to) 30 of one run of frames: the last rate
        measured, kept while idle; None before two frames followed each other within :data:`IDLE_AFTER`."""
        return self._fps

    @property
    def rendering(self) -> bool:
        """A live frame finished within the last :data:`IDLE_AFTER` seconds, or one is being rendered."""
        times = self._finish_times
        return self._busy or bool(times) and time.perf_counter() - times[-1] <= IDLE_AFTER

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish its current stage and exit; True if it did within ``timeout``."""
        with self._condition:
            self._stopping = True
            self._pending = None
            self._jobs.clear()
            self._condition.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _frame_finished(self, now: float) -> None:
        """Count a live frame; a frame after an idle gap starts a new run, so the gap is not render time."""
        times = self._finish_times
        if times and now - times[-1] > IDLE_AFTER:
            times.clear()
        times.append(now)
        if len(times) >= 2:
            self._fps = (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and self._pending is None and not self._jobs:
                    self._condition.wait()
                if self._stopping:
                    return
                if self._jobs:
                    job, request = self._jobs.popleft(), None
                else:
                    job, request, self._pending = None, self._pending, None
                self._busy = True
            try:
                if job is not None:
                    try:
                        job()
                    except Exception:  # a bug in a task must not stop the live view
                        log.exception("render-thread task failed")
                    continue
                for quality in self.passes:
                    result = self.render_fn(request, quality)
                    with self._condition:
                        self._result = result
                        self._frame_finished(time.perf_counter())
                        interrupted = self._pending is not None or bool(self._jobs) or self._stopping
                    self.on_result()
                    if interrupted or result.error:
                        break
            finally:
                with self._condition:
                    self._busy = False
