"""Frame pacing: a steady frame rate while something moves, sleeping in the event loop while idle."""

from __future__ import annotations

import time
from collections import deque


class FramePacer:
    """Decides how long the UI loop may wait before the next frame and measures the UI frame rate.

    While ``busy`` (the user is interacting, an animation runs or a render is in flight) frames are
    spaced ``1 / target_fps`` apart (vsync usually does this already; the sleep covers displays that
    ignore the swap interval, such as Xvfb). While idle the loop blocks in glfw's event wait for up
    to ``idle_wait`` seconds, so an idle viewer uses no CPU; input or :meth:`GlfwWindow.wake` ends
    the wait at once.
    """

    def __init__(self, target_fps: float = 60.0, idle_wait: float = 0.25) -> None:
        self.target_fps = target_fps
        self.idle_wait = idle_wait
        self._last_start = time.perf_counter()
        self._frame_times: deque[float] = deque(maxlen=120)

    def wait_seconds(self, busy: bool) -> float:
        """Seconds the event wait may block before the next frame starts (0 = poll and go on).

        Frames are spaced start to start, so a frame that took most of its budget is followed at
        once by the next one instead of by a full period of sleep.
        """
        if not busy:
            return self.idle_wait
        return max(0.0, self._last_start + 1.0 / self.target_fps - time.perf_counter())

    def frame_started(self, idle: bool = False) -> None:
        """Call when a frame begins (after the wait): frame times are measured start to start.

        Frames that followed an idle wait are not counted, so :attr:`fps` is the rate while
        something moves, not how rarely an idle window redraws.
        """
        now = time.perf_counter()
        if not idle:
            self._frame_times.append(now - self._last_start)
        self._last_start = now

    @property
    def fps(self) -> float:
        """Mean UI frame rate over the last (up to) 120 frames."""
        if not self._frame_times:
            return 0.0
        return len(self._frame_times) / max(sum(self._frame_times), 1e-9)
