"""The Invert panel's remembered corrections: keyed by the photo's bytes, written atomically, and a
corrupt file or entry ignored with one log line."""

from __future__ import annotations

import json
import logging
import os

import pytest

from panohead.inversion.corrections import LIMIT, Correction, CorrectionStore, photo_key
from panohead.inversion.photo_crop import CropBox

CORRECTION = Correction(CropBox((120.5, 80.0), (60.0, 3.0)), 12.5, -4.0)


def test_a_correction_is_keyed_by_the_photo_content_not_its_path(tmp_path):
    photo, copy, other = tmp_path / "a.jpg", tmp_path / "sub" / "renamed.jpg", tmp_path / "b.jpg"
    copy.parent.mkdir()
    photo.write_bytes(b"\xff\xd8 the same bytes")
    copy.write_bytes(b"\xff\xd8 the same bytes")
    other.write_bytes(b"\xff\xd8 one byte more!")
    store = CorrectionStore(tmp_path / "config" / "photo_corrections.json")
    store.put(photo_key(photo), CORRECTION)
    assert photo_key(copy) == photo_key(photo) and len(photo_key(photo)) == 64
    reopened = CorrectionStore(store.path)  # a new app run reads the file again
    assert reopened.get(photo_key(copy)) == CORRECTION and reopened.get(photo_key(other)) is None
    reopened.forget(photo_key(photo))
    assert CorrectionStore(store.path).get(photo_key(copy)) is None


def test_the_file_is_replaced_atomically_and_keeps_the_newest_photos(tmp_path, monkeypatch):
    store = CorrectionStore(tmp_path / "photo_corrections.json")
    store.put("old", CORRECTION)
    before = store.path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.put("new", CORRECTION)
    assert store.path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [store.path.name]
    monkeypatch.undo()
    entries = {f"{index:064x}": CORRECTION.to_json() for index in range(LIMIT)}
    store.path.write_text(json.dumps(entries))
    store.put("newest", CORRECTION)
    kept = json.loads(store.path.read_text())
    assert len(kept) == LIMIT and list(kept)[-1] == "newest" and f"{0:064x}" not in kept


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"k": {"centre": [1, 2], "half": [0, 0], "yaw": 0, "pitch": 0}}'],
    ids=["broken", "not an object", "empty box"],
)
def test_a_corrupt_file_or_entry_is_ignored_with_one_log_line(tmp_path, caplog, content):
    store = CorrectionStore(tmp_path / "photo_corrections.json")
    store.path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="panohead.inversion.corrections"):
        assert store.get("k") is None
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "\n" not in line and str(store.path) in line and "ignored" in line
    store.put("k", CORRECTION)  # and the next correction replaces it
    assert CorrectionStore(store.path).get("k") == CORRECTION


def test_out_of_range_or_non_finite_entries_are_refused():
    with pytest.raises(ValueError, match="out of range"):
        Correction.from_json({**CORRECTION.to_json(), "pitch": 95.0})
    with pytest.raises(ValueError, match="finite"):
        Correction.from_json({**CORRECTION.to_json(), "yaw": float("nan")})
    with pytest.raises(ValueError, match="missing"):
        Correction.from_json({"centre": [1, 2]})
    assert Correction.from_json(json.loads(json.dumps(CORRECTION.to_json()))) == CORRECTION
