"""A private Xvfb display, for headless screenshots and the GUI tests.

Mesa's software OpenGL (LIBGL_ALWAYS_SOFTWARE=1) gives a real OpenGL 3.3 core context on it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SOCKET_FOLDER = Path("/tmp/.X11-unix")


def free_display_number(start: int = 90, stop: int = 400) -> int:
    """The first display number with neither a lock file nor a socket."""
    for number in range(start, stop):
        if not Path(f"/tmp/.X{number}-lock").exists() and not (SOCKET_FOLDER / f"X{number}").exists():
            return number
    raise RuntimeError(f"no free X display number in {start}..{stop - 1}")


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800, timeout: float = 10.0) -> Iterator[str]:
    """Start Xvfb on a free display, yield its name (':N'), stop it afterwards.

    Raises FileNotFoundError when Xvfb is not installed (``make system-deps`` installs it).
    """
    executable = shutil.which("Xvfb")
    if executable is None:
        raise FileNotFoundError("Xvfb not found (install it with 'make system-deps')")
    for _attempt in range(5):
        number = free_display_number()
        process = subprocess.Popen(
            [executable, f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while process.poll() is None and not (SOCKET_FOLDER / f"X{number}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if process.poll() is None and (SOCKET_FOLDER / f"X{number}").exists():
            break
        process.kill()
        process.wait()
    else:
        raise RuntimeError("Xvfb did not start (tried 5 display numbers)")
    try:
        yield f":{number}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def software_gl_environment(display: str) -> Iterator[None]:
    """Point this process at ``display`` with Mesa's software renderer; restore the environment after."""
    saved = {name: os.environ.get(name) for name in ("DISPLAY", "LIBGL_ALWAYS_SOFTWARE", "WAYLAND_DISPLAY")}
    os.environ.update(DISPLAY=display, LIBGL_ALWAYS_SOFTWARE="1")
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
