"""Our checkpoint format: one safetensors file, the config as JSON in its metadata.

safetensors holds only raw tensor bytes and a JSON header, so opening a file never executes code
(unlike pickles). A SHA-256 in the metadata catches silent corruption: since format version 2 it
covers the rest of the metadata (the config) as well as the tensors; version-1 files, whose
checksum covers the tensors only, still load (their config is range-checked like every other).
The header is read and checked before any tensor, tensors are read from a memory map, and the
network a config describes is compared with the tensors present before it is allocated.
Files are written atomically (see :mod:`panohead.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from panohead.atomic import write_bytes_atomic
from panohead.config import GeneratorConfig
from panohead.errors import UserError, one_line
from panohead.generator import PanoHeadGenerator
from panohead.untrusted import UntrustedDataError, parse_json

FORMAT_NAME = "panohead-studio"
FORMAT_VERSION = "2"
TENSORS_ONLY_VERSION = "1"  # checksum over the tensors alone
HEADER_LIMIT = 100 * 2**20  # bytes; safetensors' own limit on its JSON header

log = logging.getLogger(__name__)


class CheckpointError(UserError):
    """A checkpoint cannot be read; the message is one line naming the file and the problem."""


def _digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """SHA-256 of ``metadata`` (sorted, without its own checksum; None: not covered) and the tensors."""
    hasher = hashlib.sha256()
    if metadata is not None:
        hasher.update(json.dumps({k: v for k, v in metadata.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(tensors):
        hasher.update(name.encode())
        hasher.update(tensors[name].detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return hasher.hexdigest()


def model_fingerprint(generator: PanoHeadGenerator) -> str:
    """SHA-256 of a loaded generator's config and weights: the same model gives the same hex string
    whatever file (or format, or precision on disk) it came from, so caches and sessions can key on it."""
    hasher = hashlib.sha256(generator.config.to_json().encode())
    hasher.update(_digest(generator.state_dict()).encode())
    return hasher.hexdigest()


def skeleton(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The network ``build`` makes, on the meta device: every layer and tensor shape, no memory.

    A file's tensors are compared with it before the real network is allocated, so a header that
    announces a huge architecture costs nothing.
    """
    with torch.device("meta"):
        return build()


def save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], kind: str, metadata: dict[str, str]
) -> None:
    """Write ``tensors`` with string ``metadata`` atomically; ``kind`` says what the file holds."""
    cpu = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    header = {**metadata, "format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": kind}
    header["sha256"] = _digest(cpu, header)
    write_bytes_atomic(path, save_safetensors(cpu, metadata=header))


def _raw_header(path: Path) -> dict:
    """The JSON header of a safetensors file, read alone: its length checked against the file and
    HEADER_LIMIT before reading, its nesting bounded."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    unreadable = f"{path}: not a readable PanoHead Studio checkpoint"
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if size < 8 or length > min(size - 8, HEADER_LIMIT):
                raise CheckpointError(f"{unreadable} (truncated or corrupt: its header claims {length} bytes)")
            header = parse_json(handle.read(length))  # length is bounded by the file and the limit
    except UntrustedDataError as error:
        raise CheckpointError(f"{unreadable} (header: {error})") from None
    except OSError as error:
        raise CheckpointError(f"{unreadable} ({one_line(error)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{unreadable} (its header is not a JSON object)")
    return header


def read_header(
    path: str | os.PathLike, kind: str | tuple[str, ...]
) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The metadata and the tensor shapes of a file written by :func:`save_tensors`, read without
    touching the tensors; format and ``kind`` checked."""
    path = Path(path)
    header = _raw_header(path)
    unreadable = f"{path}: not a readable PanoHead Studio checkpoint"
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: safetensors file without PanoHead Studio metadata "
            "(use 'panohead convert' for official .pkl files)"
        )
    if not all(isinstance(value, str) for value in metadata.values()):
        raise CheckpointError(f"{unreadable} (metadata values must be text)")
    kinds = (kind,) if isinstance(kind, str) else kind
    if metadata.get("kind") not in kinds:
        raise CheckpointError(f"{path}: holds a {metadata.get('kind')!r}, expected {' or '.join(map(repr, kinds))}")
    if metadata.get("version") not in (FORMAT_VERSION, TENSORS_ONLY_VERSION):
        raise CheckpointError(
            f"{path}: format version {metadata.get('version')!r} is not supported "
            f"(this version reads {TENSORS_ONLY_VERSION} and {FORMAT_VERSION})"
        )
    shapes = {}
    for name, entry in header.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (
            isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise CheckpointError(f"{unreadable} (tensor {name!r} has no valid shape)")
        shapes[name] = tuple(shape)
    return metadata, shapes


def load_tensors(
    path: str | os.PathLike, kind: str | tuple[str, ...]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a file written by :func:`save_tensors`, checking format, kind and checksum.

    The header is checked before any tensor is read; tensors are copied out of a memory map.
    """
    path = Path(path)
    metadata, _ = read_header(path, kind)
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, ValueError, RuntimeError, OSError) as error:
        raise CheckpointError(
            f"{path}: not a readable PanoHead Studio checkpoint (truncated or corrupt: {one_line(error)})"
        ) from None
    covers_metadata = metadata["version"] != TENSORS_ONLY_VERSION
    if _digest(tensors, metadata if covers_metadata else None) != metadata.get("sha256"):
        raise CheckpointError(f"{path}: checksum mismatch, the file is corrupt")
    if not covers_metadata:
        log.info("%s: format version 1, its checksum covers the tensors but not the config", path)
    return tensors, metadata


def save_generator(
    path: str | os.PathLike,
    generator: PanoHeadGenerator,
    dtype: torch.dtype | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    """Save a generator's config and state; ``dtype=torch.float16`` halves the size (floats only)."""
    state = {}
    for name, tensor in generator.state_dict().items():
        state[name] = tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
    save_tensors(path, state, "generator", {"config": generator.config.to_json(), **(extra or {})})


TrainingData = Literal["synthetic", "photos"]  # our rendered heads, or aligned real photos
TRAINING_DATA: tuple[TrainingData, ...] = get_args(TrainingData)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of one of our safetensors files, from its header alone (no tensors read);
    {} for a safetensors file without any. Raises CheckpointError when the file is missing or not a
    readable safetensors file."""
    metadata = _raw_header(Path(path)).get("__metadata__")
    return metadata if isinstance(metadata, dict) else {}


def training_data(path: str | os.PathLike, metadata: dict[str, str] | None = None) -> TrainingData | None:
    """What a checkpoint's generator was trained on, from its training record (not its name):
    "synthetic" (our rendered heads), "photos" (aligned real photos: an official PanoHead or EG3D
    release, as a ``.pkl`` or converted), or None when the file does not record it. Only a model
    trained on photos can represent a real photo (the Invert panel says so before it runs)."""
    path = Path(path)
    if path.suffix.lower() == ".pkl":
        return "photos"  # the official code's snapshots; its released models are trained on FFHQ(-F) photos
    metadata = read_metadata(path) if metadata is None else metadata
    if "converted_from" in metadata:
        return "photos"
    value = metadata.get("training_data")
    return value if value in TRAINING_DATA else None


def config_from_metadata(path: Path, metadata: dict[str, str]) -> GeneratorConfig:
    """The generator config in ``metadata``, its types and ranges checked (:class:`GeneratorConfig`)."""
    try:
        values = parse_json(metadata["config"])
        if not isinstance(values, dict):
            raise ValueError("the config is not a JSON object")
        return GeneratorConfig.from_dict(values)
    except KeyError:
        raise CheckpointError(f"{path}: the checkpoint holds no generator config") from None
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: invalid generator config in checkpoint ({one_line(error)})") from None


def check_shapes(path: Path, build: Callable[[], torch.nn.Module], shapes: dict[str, tuple[int, ...]]) -> None:
    """The tensors a file holds (``shapes``) are exactly those of the network ``build`` makes,
    checked on a :func:`skeleton` before anything of that size is allocated."""
    own = {name: tuple(t.shape) for name, t in skeleton(build).state_dict().items()}
    missing = sorted(set(own) - set(shapes))
    unexpected = sorted(set(shapes) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensors do not match the config (missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    for name, shape in shapes.items():
        if tuple(shape) != own[name]:
            raise CheckpointError(f"{path}: tensor {name} has shape {tuple(shape)}, expected {own[name]}")


def build_generator(path: Path, config: GeneratorConfig, state: dict[str, torch.Tensor]) -> PanoHeadGenerator:
    """Instantiate a generator and load ``state`` strictly (floats cast to fp32), shapes checked first."""
    check_shapes(path, lambda: PanoHeadGenerator(config), {name: tuple(tensor.shape) for name, tensor in state.items()})
    generator = PanoHeadGenerator(config)
    own = generator.state_dict()
    generator.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return generator.eval().requires_grad_(False)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> PanoHeadGenerator:
    """Load a generator saved in our format (:func:`save_generator`, or a training snapshot's G_ema).

    Official snapshots (``.pkl``) open through :class:`panohead.model_source.ModelSource`, the one
    opener for every model a user names.
    """
    path = Path(path)
    if path.suffix.lower() == ".pkl":
        raise CheckpointError(
            f"{path}: an official snapshot, not our format "
            "(open it with panohead.ModelSource or convert it with 'panohead convert')"
        )
    kinds = ("generator", "snapshot")
    metadata, shapes = read_header(path, kinds)
    prefix = "G_ema." if metadata["kind"] == "snapshot" else ""
    config = config_from_metadata(path, metadata)
    check_shapes(
        path,
        lambda: PanoHeadGenerator(config),
        {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)},
    )
    tensors, metadata = load_tensors(path, kinds)
    tensors = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    return build_generator(path, config, tensors).to(device)
