"""The crop and camera a user set for a photo in the Invert panel, remembered per photo.

Keyed by the SHA-256 of the photo file's bytes, not its path: a renamed or moved copy is the same
photo, an edited one is not. All corrections live in one JSON file in the user's config folder
(:func:`panohead.userdirs.config_folder`), rewritten atomically on every change, at most
:data:`LIMIT` photos (the least recently corrected go first). A file that cannot be read, or an
entry that is not a valid correction, is ignored with a one-line log message: a remembered
correction is a convenience, never a reason to refuse a photo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from panohead.atomic import write_bytes_atomic
from panohead.errors import one_line
from panohead.inversion.photo_crop import PITCH_RANGE, YAW_RANGE, CropBox
from panohead.untrusted import parse_json, read_file_capped
from panohead.userdirs import config_folder

log = logging.getLogger(__name__)
NAME = "photo_corrections.json"
LIMIT = 1000  # photos remembered; one entry is about 200 bytes
FILE_LIMIT = 4 * 2**20  # bytes read at most


@dataclass(frozen=True)
class Correction:
    """A photo's crop box (photo pixels) and camera (degrees) as the user left them."""

    box: CropBox
    yaw: float
    pitch: float

    def to_json(self) -> dict:
        return {"centre": list(self.box.centre), "half": list(self.box.half), "yaw": self.yaw, "pitch": self.pitch}

    @staticmethod
    def from_json(entry: object) -> Correction:
        """Rebuild an entry of the file; ``ValueError`` naming what is wrong with it."""
        if not isinstance(entry, dict):
            raise ValueError(f"not an object: {entry!r:.40}")
        try:
            centre, half = [float(v) for v in entry["centre"]], [float(v) for v in entry["half"]]
            yaw, pitch = float(entry["yaw"]), float(entry["pitch"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"missing or non-numeric field ({one_line(error)})") from None
        if len(centre) != 2 or len(half) != 2 or not all(map(math.isfinite, (*centre, *half, yaw, pitch))):
            raise ValueError("centre and half need 2 finite numbers each, yaw and pitch 1")
        if math.hypot(*half) <= 0:
            raise ValueError("the crop box has no size")
        if not (YAW_RANGE[0] <= yaw <= YAW_RANGE[1] and PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]):
            raise ValueError(f"yaw {yaw} or pitch {pitch} out of range")
        return Correction(CropBox((centre[0], centre[1]), (half[0], half[1])), yaw, pitch)


def photo_key(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the file's bytes: the same photo under any name or folder."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CorrectionStore:
    """The corrections file (default: ``photo_corrections.json`` in the config folder)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else config_folder() / NAME

    def get(self, key: str) -> Correction | None:
        entry = self._entries().get(key)
        if entry is None:
            return None
        try:
            return Correction.from_json(entry)
        except ValueError as error:
            log.warning("%s: ignored the correction of photo %s (%s)", self.path, key[:12], one_line(error))
            return None

    def put(self, key: str, correction: Correction) -> None:
        """Remember ``correction`` for the photo ``key`` (most recent last; the oldest beyond LIMIT dropped)."""
        entries = self._entries()
        entries.pop(key, None)
        entries[key] = correction.to_json()
        self._write(dict(list(entries.items())[-LIMIT:]))

    def forget(self, key: str) -> None:
        entries = self._entries()
        if entries.pop(key, None) is not None:
            self._write(entries)

    def _entries(self) -> dict[str, object]:
        if not self.path.is_file():
            return {}
        try:
            entries = parse_json(read_file_capped(self.path, FILE_LIMIT))
            if not isinstance(entries, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            log.warning("%s: ignored unreadable photo corrections (%s)", self.path, one_line(error))
            return {}
        return entries

    def _write(self, entries: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, json.dumps(entries, indent=1).encode())
