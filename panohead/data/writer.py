"""Writing datasets atomically, as a folder pair or a zip pair, in the layout :mod:`panohead.data.dataset` reads.

``out`` receives the images and ``dataset.json``; the masks go to the sibling ``<out>_masks`` folder
(or ``<stem>_masks.zip``), the default the reader looks for. Nothing appears at the final paths
until :meth:`DatasetWriter.commit`: files are written into hidden ``.partial`` folders (or temporary
zips) beside the targets and renamed into place at the end, so an interrupted run leaves no
half-written dataset behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from panohead.atomic import atomic_path, temp_folder


def encode_png(array: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint8 -> PNG bytes (fast compression: datasets are written often)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def mask_target(out: Path) -> Path:
    """Where the masks of a dataset written to ``out`` go (the reader's default)."""
    return (
        out.with_name(f"{out.stem}_masks.zip") if out.suffix.lower() == ".zip" else out.with_name(f"{out.name}_masks")
    )


class DatasetWriter:
    """Collect (name, image, mask, label) records and commit them atomically.

    Use as a context manager: leaving the block normally commits, an exception discards everything.
    ``overwrite`` replaces existing targets (only once the new dataset is complete).
    """

    def __init__(self, out: str | os.PathLike, overwrite: bool = False, metadata: dict | None = None, threads: int = 4):
        self.out = Path(out)
        self.masks_out = mask_target(self.out)
        self.is_zip = self.out.suffix.lower() == ".zip"
        self.metadata = metadata or {}
        self.labels: list[list] = []
        for target in (self.out, self.masks_out):
            if target.exists() and not overwrite:
                raise FileExistsError(f"{target}: already exists (pass --overwrite or choose another output)")
        parent = self.out.parent if str(self.out.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(f"{parent}: output folder does not exist")
        self._stack = contextlib.ExitStack()
        self._pool = ThreadPoolExecutor(max_workers=threads)
        if self.is_zip:
            temp_images = self._stack.enter_context(atomic_path(self.out))
            temp_masks = self._stack.enter_context(atomic_path(self.masks_out))
            self._zips = [
                zipfile.ZipFile(temp_images, "w", zipfile.ZIP_STORED),
                zipfile.ZipFile(temp_masks, "w", zipfile.ZIP_STORED),
            ]
        else:
            self._folders = [temp_folder(t) for t in (self.out, self.masks_out)]

    def _put(self, which: int, name: str, data: bytes) -> None:
        if self.is_zip:
            self._zips[which].writestr(name, data)
        else:
            path = self._folders[which] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def add_batch(self, names: list[str], images: np.ndarray, masks: np.ndarray, labels: list[list[float]]) -> None:
        """Add B records: images (B, H, W, 3) uint8, masks (B, H, W) uint8, labels B x 25 numbers."""
        encoded_images = list(self._pool.map(encode_png, images))
        encoded_masks = list(self._pool.map(encode_png, masks))
        for name, image, mask, label in zip(names, encoded_images, encoded_masks, labels, strict=True):
            self._put(0, name, image)
            self._put(1, name, mask)
            self.labels.append([name, [float(v) for v in label]])

    def commit(self) -> None:
        document = json.dumps({"labels": self.labels, **self.metadata}, indent=None).encode()
        self._put(0, "dataset.json", document)
        self._pool.shutdown()
        if self.is_zip:
            for handle in self._zips:
                handle.close()
            self._stack.close()
            return
        for temp, target in zip(self._folders, (self.out, self.masks_out), strict=True):
            if target.exists():
                old = temp_folder(target, "old")
                os.replace(target, old / "data")
                os.replace(temp, target)
                shutil.rmtree(old)
            else:
                os.replace(temp, target)

    def discard(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        if self.is_zip:
            for handle in self._zips:
                handle.close()
            # Leaving the atomic paths with an error removes the temporary zips.
            self._stack.__exit__(RuntimeError, RuntimeError("discarded"), None)
        else:
            for temp in self._folders:
                shutil.rmtree(temp, ignore_errors=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
