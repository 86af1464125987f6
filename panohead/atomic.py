"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or a full disk mid-write leaves the previous file (or nothing) in place, never half a file.
Temporary names are ``.<name>.<pid>-<token>.partial<suffix>``: hidden, cut to fit the file
system's 255-byte name limit whatever the target's length, keeping the target's suffix (writers
choose the format by it). A process that dies mid-write (``kill -9``, power loss) leaves its
temporary behind; the next write into that folder removes temporaries of this naming whose process
is gone. Files are created with the mode the umask gives (0644 under the usual umask 022), like any
other program's output.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

NAME_LIMIT = 255  # bytes in one file name: ext4, xfs, btrfs, apfs, ntfs (in UTF-16 units)
SUFFIX_LIMIT = 32  # bytes of the target's suffix kept in the temporary name
STALE_SECONDS = 60  # a temporary untouched this long whose process is gone is removed
KINDS = ("partial", "old")  # what a temporary holds: a new file or folder, or the one it replaces
_TEMP = re.compile(r"\.(?P<stem>.*)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?:partial|old)(?:\.[^.]*)?")
# Names that earlier versions gave temporaries (tempfile's 8 random characters, no process id):
# removed once they are an hour old, as no write takes that long without touching its file.
_OLD_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.(?:partial|old)(?:\.[^.]*)?")
_OLD_TEMP_SECONDS = 3600
_cleaned: set[Path] = set()


def temp_name(target: Path, kind: str = "partial") -> str:
    """The hidden temporary name for ``target`` (see the module docstring), at most NAME_LIMIT bytes."""
    assert kind in KINDS
    suffix = target.suffix if len(target.suffix.encode()) <= SUFFIX_LIMIT else ""
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.{kind}{suffix}"
    room = NAME_LIMIT - 1 - len(tail.encode())
    stem = target.name.encode()[:room].decode("utf-8", "ignore")
    return f".{stem}{tail}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporaries of our naming in ``folder`` left by processes that are gone (files and
    folders; untouched for STALE_SECONDS, so a write still in progress elsewhere is spared). Returns them."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if match:
                stale = int(match["pid"]) != os.getpid() and _process_gone(int(match["pid"])) and age > STALE_SECONDS
            else:
                stale = _OLD_TEMP.fullmatch(entry.name) is not None and age > _OLD_TEMP_SECONDS
            if not stale:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue  # removed meanwhile, or not ours to remove
    return removed


def _prepare(target: Path) -> Path:
    """The target's folder, checked, with stale temporaries removed (once per folder and process)."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder}: output folder is not writable")
    key = folder.resolve()
    if key not in _cleaned:
        _cleaned.add(key)
        remove_stale_temps(folder)
    return folder


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``target`` only on success."""
    target = Path(target)
    temp = _prepare(target) / temp_name(target)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()


def temp_folder(target: str | os.PathLike, kind: str = "partial") -> Path:
    """A new hidden folder beside ``target``, named like the temporary files (so it is cleaned up the
    same way if its writer dies); the caller renames or removes it."""
    target = Path(target)
    folder = _prepare(target) / temp_name(target, kind)
    folder.mkdir(0o777)  # the umask applies
    return folder


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as temp:
        temp.write_bytes(data)
