"""Watching a run folder while (or after) it trains: the log's curves and state, read incrementally.

:class:`RunMonitor` tails ``log.jsonl`` (see :mod:`panohead.training.loop` for the events): each
:meth:`RunMonitor.poll` reads only the bytes appended since the last one (at most ``max_bytes``), so a
UI can call it every frame of a long run without stalling. Half-written lines wait for their newline.
The log is read as untrusted data (another program, or a disk error, may have written it): each line
goes through the bounded :func:`panohead.untrusted.parse_json`, and a line that is not a record with
the field types the panel relies on is skipped, counted and described in one line (:attr:`bad_line`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panohead.errors import one_line
from panohead.untrusted import parse_json

LOG_FILE = "log.jsonl"
CONSOLE_FILE = "console.log"  # stdout + stderr of a run the app launched
# The curves a tick record feeds; a key missing from a tick (a phase that did not run) is a gap (NaN).
CURVES = ("loss_G", "loss_D", "r1_image", "r1_mask", "camera_offset", "images_per_s", "gpu_mem_gb")
# Fields that must be numbers when present (the curves may also be null: a value the run could not measure).
NUMBERS = ("time", "nimg", "kimg_total", "eta_s", *CURVES)
FILE_NAMES = ("path", "grid", "mask_grid")  # a snapshot's files: plain names inside the run folder


@dataclass
class Snapshot:
    """A ``snapshot`` event: the files of the newest snapshot (absolute paths)."""

    nimg: int
    path: Path
    grid: Path | None
    mask_grid: Path | None


class RunMonitor:
    """The state of one run folder as its log says: progress, curves, newest snapshot, how it ended."""

    def __init__(self, folder: str | os.PathLike, max_bytes: int = 1 << 20) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._offset = 0
        self._pending = b""
        self.start: dict | None = None  # the latest start event (a resume starts a new session)
        self.last_tick: dict | None = None
        self.snapshot: Snapshot | None = None
        self.stop: dict | None = None  # the session's stop event
        self.error: str | None = None  # the session's error message
        self.last_record_time: float | None = None  # Unix time of the newest record
        self.bad_lines = 0
        self.bad_line: str | None = None  # why the newest skipped line was skipped, e.g. "log.jsonl line 7: ..."
        self._line = 0  # complete lines read so far
        self._nimg: list[float] = []
        self._curves: dict[str, list[float]] = {key: [] for key in CURVES}
        self._arrays: dict[str, np.ndarray] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / LOG_FILE

    @property
    def exists(self) -> bool:
        return self._offset > 0 or self.log_path.is_file()

    def poll(self) -> bool:
        """Read what the log gained since the last call; True if anything new arrived."""
        try:
            size = self.log_path.stat().st_size
        except OSError:
            return False
        if size < self._offset:  # the log was replaced (a fresh run in the same folder): start over
            self.__init__(self.folder, self.max_bytes)
        if size == self._offset:
            return False
        with open(self.log_path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(min(size - self._offset, self.max_bytes))
        self._offset += len(chunk)
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()  # after the last newline: an incomplete record
        for line in lines:
            if line.strip():
                self._read(line)
        self._arrays = None
        return True

    def _read(self, line: bytes) -> None:
        self._line += 1
        try:
            record = _record(line)
        except ValueError as error:  # UntrustedDataError is one
            self.bad_lines += 1
            self.bad_line = f"{LOG_FILE} line {self._line}: {one_line(error)}"
            return
        event = record["event"]
        self.last_record_time = record.get("time", self.last_record_time)
        if event == "start":
            self.start, self.stop, self.error = record, None, None
            self._forget_after(record.get("nimg", 0))  # a resume repeats the steps after its snapshot
        elif event == "tick":
            self.last_tick = record
            self._nimg.append(float(record.get("nimg", 0)))
            for key in CURVES:
                value = record.get(key)
                self._curves[key].append(float(value) if isinstance(value, (int, float)) else math.nan)
        elif event == "snapshot":
            grid, mask_grid = record.get("grid"), record.get("mask_grid")
            self.snapshot = Snapshot(
                int(record.get("nimg", 0)),
                self.folder / record["path"],
                self.folder / grid if grid else None,
                self.folder / mask_grid if mask_grid else None,
            )
        elif event == "stop":
            self.stop = record
        elif event == "error":
            self.error = str(record.get("message") or "unknown error")

    def _forget_after(self, nimg: int) -> None:
        keep = sum(1 for n in self._nimg if n <= nimg)
        del self._nimg[keep:]
        for values in self._curves.values():
            del values[keep:]
        if self.last_tick is not None and self.last_tick.get("nimg", 0) > nimg:
            self.last_tick = None

    # --- what a panel shows ---------------------------------------------------------------------
    def curves(self) -> dict[str, np.ndarray]:
        """{"kimg": (T,), "loss_G": (T,), ...} float64 arrays over the ticks (NaN where a value is missing)."""
        if self._arrays is None:
            self._arrays = {
                "kimg": np.asarray(self._nimg, dtype=np.float64) / 1000,
                **{k: np.asarray(v, dtype=np.float64) for k, v in self._curves.items()},
            }
        return self._arrays

    @property
    def nimg(self) -> int:
        """Real images seen so far (by the newest tick, snapshot or start)."""
        candidates = [r.get("nimg", 0) for r in (self.start, self.last_tick, self.stop) if r]
        if self.snapshot is not None:
            candidates.append(self.snapshot.nimg)
        return int(max(candidates, default=0))

    @property
    def kimg_total(self) -> float | None:
        return self.start.get("kimg_total") if self.start else None

    @property
    def finished(self) -> bool:
        """The session ended with a stop or an error record."""
        return self.stop is not None or self.error is not None

    def seconds_since_record(self) -> float | None:
        return None if self.last_record_time is None else max(0.0, time.time() - self.last_record_time)


def _record(line: bytes) -> dict:
    """One log line as a record whose fields have the types the readers rely on; ValueError saying what
    is wrong otherwise."""
    record = parse_json(line)
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        raise ValueError("not a log record (a JSON object with an 'event' name)")
    for key in NUMBERS:
        value = record.get(key)
        if key in record and not _number(value) and not (value is None and key in CURVES):
            raise ValueError(f"{key!r} is not a number")
    for key in FILE_NAMES:
        value = record.get(key)
        if value is not None and not (
            isinstance(value, str) and value not in ("", ".", "..") and Path(value).name == value
        ):
            raise ValueError(f"{key!r} is not a file name in the run folder")
    if record["event"] == "snapshot" and record.get("path") is None:
        raise ValueError("a snapshot record without its 'path'")
    if not isinstance(record.get("reason", ""), (str, type(None))):
        raise ValueError("'reason' is not text")
    return record


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def tail_lines(path: str | os.PathLike, lines: int = 40, max_bytes: int = 16384) -> list[str]:
    """The last ``lines`` lines of a text file, reading at most its last ``max_bytes`` (tqdm's \\r updates
    count as line breaks, so a progress bar shows its latest state). Empty if the file does not exist."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    found = [line.rstrip() for line in text.split("\n") if line.strip()]
    if size > max_bytes and found:
        found = found[1:]  # the first line was probably cut
    return found[-lines:]
