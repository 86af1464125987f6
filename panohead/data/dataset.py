"""Reading PanoHead/EG3D-style datasets: images + ``dataset.json`` camera labels + foreground masks.

Layout (compatible with the official tools):

* ``images``: a folder or a ``.zip`` holding image files and ``dataset.json`` =
  ``{"labels": [[file_name, [25 floats]], ...]}`` (file names are paths inside the folder/zip, with
  ``/`` separators);
* ``masks``: a parallel folder or zip with the same file names, holding single-channel foreground
  masks (any mode; converted to greyscale). By default the sibling ``<images>_masks`` folder or
  ``<stem>_masks.zip``.

Every structural problem (missing ``dataset.json``, an image without label, a label of the wrong
length, an image/mask size mismatch, an unreadable image, an empty dataset) raises
:class:`DatasetError` with one line that names the file at fault.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from panohead.camera import LABEL_SIZE, label_to_orbit, mirror_label
from panohead.errors import UserError, one_line
from panohead.images import ImageTooLarge, open_image
from panohead.untrusted import UntrustedDataError, parse_json, read_capped, read_file_capped

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
LABELS_FILE = "dataset.json"
# Caps on what one member may inflate to (a zip's sizes are claims: members are read through the
# decompressor and stopped at the cap). A label takes about 600 bytes of JSON per image.
IMAGE_LIMIT = 128 * 2**20
LABELS_BASE_LIMIT, LABELS_PER_IMAGE_LIMIT = 2**20, 4096


class DatasetError(UserError):
    """A broken dataset; the message is one line naming the file at fault."""


class Archive:
    """Read-only access to the files of a folder or a zip, by relative posix name.

    Zip handles are opened lazily per process, so a dataset can be used by DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.is_dir():
            self.is_zip = False
            self._names = sorted(
                p.relative_to(self.path).as_posix()
                for p in self.path.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
        elif self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise DatasetError(f"{self.path}: not a folder or a readable .zip file")
            self.is_zip = True
            with zipfile.ZipFile(self.path) as handle:
                self._names = sorted(n for n in handle.namelist() if not n.endswith("/"))
        else:
            raise DatasetError(f"{self.path}: no such folder or zip file")
        self._name_set = set(self._names)
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None

    def names(self) -> list[str]:
        return list(self._names)

    def __contains__(self, name: str) -> bool:
        return name in self._name_set

    def where(self, name: str) -> str:
        """Human-readable location of a member, for error messages."""
        return f"{self.path}:{name}" if self.is_zip else str(self.path / name)

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of member ``name``, at most ``limit`` of them (more: a one-line DatasetError)."""
        try:
            if not self.is_zip:
                return read_file_capped(self.path / name, limit, "it")
            if self._zip is None or self._zip_pid != os.getpid():
                self._zip = zipfile.ZipFile(self.path)
                self._zip_pid = os.getpid()
            with self._zip.open(name) as member:
                return read_capped(member, limit, "it")
        except UntrustedDataError as error:
            raise DatasetError(f"{self.where(name)}: {error}") from None
        except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
            raise DatasetError(f"{self.where(name)}: cannot read it ({one_line(error)})") from None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_zip"] = None
        state["_zip_pid"] = None
        return state


def default_mask_path(images: str | os.PathLike) -> Path:
    """``<images>_masks`` (folder) or ``<stem>_masks.zip`` beside ``images``, whichever exists.

    The kind matching ``images`` (folder or zip) is preferred; when neither exists, that one is
    returned so the error names it. ``.``, ``..`` and a trailing ``/`` name the folder they lead to; the
    filesystem root has nothing beside it and raises :class:`DatasetError`.
    """
    images = Path(os.path.abspath(images))
    if not images.name:
        raise DatasetError(f"{images}: the filesystem root is not a dataset (choose the dataset's folder or zip)")
    stem = images.stem if images.suffix.lower() == ".zip" else images.name
    candidates = [images.with_name(f"{stem}_masks"), images.with_name(f"{stem}_masks.zip")]
    if images.suffix.lower() == ".zip":
        candidates.reverse()
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0]


def missing_labels(where: str) -> DatasetError:
    return DatasetError(f"{where}: missing (every dataset needs camera labels in dataset.json)")


def read_labels_file(archive: Archive) -> object:
    """``dataset.json`` of ``archive``, parsed (any JSON value; :func:`parse_labels` validates it)."""
    if LABELS_FILE not in archive:
        raise missing_labels(archive.where(LABELS_FILE))
    limit = LABELS_BASE_LIMIT + LABELS_PER_IMAGE_LIMIT * len(archive.names())
    try:
        return parse_json(archive.read(LABELS_FILE, limit))
    except UntrustedDataError as error:
        raise DatasetError(f"{archive.where(LABELS_FILE)}: {error}") from None


def data_kind(document: object) -> str:
    """What the images are, from the record the dataset tools leave in ``dataset.json``: "synthetic"
    (``panohead dataset synth``), "photos" (``panohead dataset align``), "" when it does not say."""
    if isinstance(document, dict) and "synthetic" in document:
        return "synthetic"
    if isinstance(document, dict) and "alignment" in document:
        return "photos"
    return ""


def parse_labels(archive: Archive, document: object) -> dict[str, list[float]]:
    """The ``labels`` of ``dataset.json`` (``document``, from :func:`read_labels_file`) as
    {file name: 25 floats}, validated."""
    entries = document.get("labels") if isinstance(document, dict) else None
    if isinstance(entries, dict):
        entries = list(entries.items())
    if not isinstance(entries, list):
        raise DatasetError(f"{archive.where(LABELS_FILE)}: needs a 'labels' list of [file_name, [25 numbers]] pairs")
    labels: dict[str, list[float]] = {}
    for entry in entries:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
            raise DatasetError(
                f"{archive.where(LABELS_FILE)}: label entry {str(entry)[:60]!r} is not [file_name, [25 numbers]]"
            )
        name, values = entry
        name = name.replace("\\", "/")
        if not isinstance(values, (list, tuple)) or len(values) != LABEL_SIZE:
            count = len(values) if isinstance(values, (list, tuple)) else "not a list of"
            raise DatasetError(
                f"{archive.where(LABELS_FILE)}: label of {name!r} has {count} numbers, expected {LABEL_SIZE}"
            )
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise DatasetError(
                f"{archive.where(LABELS_FILE)}: label of {name!r} holds a value that is not a number"
            ) from None
        if not all(math.isfinite(v) for v in numbers):
            raise DatasetError(f"{archive.where(LABELS_FILE)}: label of {name!r} holds NaN or infinity")
        labels[name] = numbers
    return labels


def _open_image(archive: Archive, name: str) -> Image.Image:
    """Open (lazily: header only) an image member, with a one-line error when it cannot be read."""
    data = archive.read(name, IMAGE_LIMIT)
    try:
        return open_image(io.BytesIO(data))
    except ImageTooLarge as error:
        raise DatasetError(f"{archive.where(name)}: {error}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"{archive.where(name)}: unreadable or corrupt image ({type(error).__name__})") from None


def _decode(archive: Archive, name: str, mode: str) -> Image.Image:
    image = _open_image(archive, name)
    try:
        image.load()
        return image.convert(mode)
    except (OSError, ValueError, SyntaxError) as error:
        raise DatasetError(f"{archive.where(name)}: unreadable or corrupt image ({one_line(error)})") from None


class HeadDataset(torch.utils.data.Dataset):
    """Images, foreground masks and camera labels of a 360-degree head dataset.

    ``dataset[i]`` -> {"image": (3, H, W) float32 in [-1, 1], "mask": (1, H, W) float32 in [0, 1],
    "label": (25,) float32, "name": str}. With ``xflip`` the index space doubles: indices
    ``N..2N-1`` are the mirrored images, whose labels are :func:`panohead.camera.mirror_label` of the
    originals (the camera that sees the flipped image). ``labels`` is the (len(self), 25) tensor of
    every index's label, so ``dataset.labels[i]`` equals ``dataset[i]["label"]``.

    ``resolution``: images must be square; when given and different from the stored size, images
    and masks are resized to it on load.
    """

    def __init__(
        self,
        images: str | os.PathLike,
        masks: str | os.PathLike | None = None,
        resolution: int | None = None,
        xflip: bool = False,
    ):
        if Path(images).is_dir() and not (Path(images) / LABELS_FILE).is_file():
            raise missing_labels(str(Path(images) / LABELS_FILE))  # before listing a whole tree ("/", a home folder)
        self.images = Archive(images)
        document = read_labels_file(self.images)
        label_map = parse_labels(self.images, document)
        self.kind = data_kind(document)  # recorded in snapshots and checkpoints as "training_data"
        self.names = [n for n in self.images.names() if n.lower().endswith(IMAGE_SUFFIXES)]
        if not self.names:
            raise DatasetError(
                f"{self.images.path}: empty dataset (no {'/'.join(s[1:] for s in IMAGE_SUFFIXES[:3])} images)"
            )
        for name in self.names:
            if name not in label_map:
                raise DatasetError(f"{self.images.where(name)}: no label for this image in {LABELS_FILE}")
        for name in label_map:
            if name not in self.images:
                raise DatasetError(f"{self.images.where(LABELS_FILE)}: labels {name!r} but there is no such image")
        mask_path = Path(masks) if masks is not None else default_mask_path(images)
        if not mask_path.exists():
            raise DatasetError(f"{mask_path}: mask folder/zip not found (pass the masks explicitly or create it)")
        self.masks = Archive(mask_path)
        self.native_resolution = self._check_sizes()
        if resolution is not None and resolution < 1:
            raise DatasetError(f"resolution {resolution} must be a positive number of pixels")
        self.resolution = resolution or self.native_resolution
        self.xflip = xflip
        base = torch.tensor([label_map[n] for n in self.names], dtype=torch.float32)
        self.labels = torch.cat([base, mirror_label(base)]) if xflip else base

    def _check_sizes(self) -> int:
        """Every image square, of one size, with a same-size mask; returns that size (read headers only)."""
        resolution = _open_image(self.images, self.names[0]).size[0]  # (the constructor refuses no images)
        for name in self.names:
            if name not in self.masks:
                raise DatasetError(f"{self.masks.where(name)}: missing mask for image {name!r}")
            width, height = _open_image(self.images, name).size
            if width != height:
                raise DatasetError(
                    f"{self.images.where(name)}: image is {width}x{height}; dataset images must be square"
                )
            if width != resolution:
                raise DatasetError(
                    f"{self.images.where(name)}: image is {width}x{height} but the dataset's first image is "
                    f"{resolution}x{resolution}"
                )
            mask_size = _open_image(self.masks, name).size
            if mask_size != (width, height):
                raise DatasetError(
                    f"{self.masks.where(name)}: mask is {mask_size[0]}x{mask_size[1]} but its image is {width}x{height}"
                )
        return resolution

    @property
    def num_images(self) -> int:
        """Number of distinct image files (without the mirrored copies)."""
        return len(self.names)

    def __len__(self) -> int:
        return len(self.labels)

    def yaws(self) -> torch.Tensor:
        """(len(self),) camera yaw of every index in radians (0 = front, +-pi = back)."""
        return label_to_orbit(self.labels).yaw

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)}")
        index %= len(self)
        flip = index >= self.num_images
        name = self.names[index - self.num_images if flip else index]
        image = _decode(self.images, name, "RGB")
        mask = _decode(self.masks, name, "L")
        if image.size != (self.resolution, self.resolution):
            image = image.resize((self.resolution, self.resolution), Image.LANCZOS)
            mask = mask.resize((self.resolution, self.resolution), Image.BILINEAR)
        image_t = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0
        mask_t = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None] / 255.0
        if flip:
            image_t, mask_t = image_t.flip(-1), mask_t.flip(-1)
        return {
            "image": image_t.contiguous(),
            "mask": mask_t.contiguous(),
            "label": self.labels[index].clone(),
            "name": name,
        }

    def verify(self) -> None:
        """Decode every image and mask fully (catches truncated files that headers do not reveal)."""
        for name in self.names:
            _decode(self.images, name, "RGB")
            _decode(self.masks, name, "L")


def yaw_balance_weights(
    yaws: torch.Tensor, bins: int = 12, strength: float = 1.0, max_repeat: float = 8.0
) -> torch.Tensor:
    """(N,) sampling weights that repeat rare (side/back) views, relative to the most common yaw bin.

    The yaw circle is cut into ``bins`` equal sectors; an image in a sector holding ``n`` images
    gets weight ``min(max_repeat, (n_max / n) ** strength)`` (strength 0 = plain uniform sampling,
    1 = every sector drawn about equally often up to the repeat cap). The cap keeps a handful of
    back views from being repeated thousands of times. Weights are normalised to mean 1.
    """
    sector = ((yaws + math.pi) / (2 * math.pi) * bins).floor().long().clamp(0, bins - 1)
    counts = torch.bincount(sector, minlength=bins).float()
    weights = ((counts.max() / counts[sector]) ** strength).clamp(max=max_repeat)
    return weights / weights.mean()


class YawBalancedSampler(torch.utils.data.Sampler[int]):
    """Draws indices with :func:`yaw_balance_weights` (with replacement), reproducibly per seed.

    Each ``iter()`` draws a new ``num_samples`` sequence from one seeded generator, so epoch k of
    a run is the same on every machine.
    """

    def __init__(self, weights: torch.Tensor, num_samples: int, seed: int = 0):
        self.weights = weights
        self.num_samples = num_samples
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        yield from torch.multinomial(
            self.weights, self.num_samples, replacement=True, generator=self.generator
        ).tolist()


def yaw_balanced_sampler(
    dataset: HeadDataset,
    bins: int = 12,
    strength: float = 1.0,
    max_repeat: float = 8.0,
    num_samples: int | None = None,
    seed: int = 0,
) -> YawBalancedSampler:
    """A sampler over ``dataset`` that repeats back-of-head and side images (see :func:`yaw_balance_weights`)."""
    weights = yaw_balance_weights(dataset.yaws(), bins, strength, max_repeat)
    return YawBalancedSampler(weights, num_samples or len(dataset), seed)
