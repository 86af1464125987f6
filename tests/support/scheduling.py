"""Time a thread spent descheduled, so timing tests measure the code and not the machine's load.

Linux counts, per thread, the time it was runnable but waiting for a CPU (the second field of
``/proc/thread-self/schedstat``, in ns). Wall time minus that wait is what the thread would have taken
on an idle machine: its own work plus every wait it chose (a lock, a sleep, an event wait), so a UI
loop that blocks on its renderer is still caught while a loaded machine does not fail the test.
"""

from __future__ import annotations

from pathlib import Path

SCHEDSTAT = Path("/proc/thread-self/schedstat")


def descheduled_seconds() -> float:
    """Seconds the calling thread has waited for a CPU since it started (0.0 where the kernel does not say)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
