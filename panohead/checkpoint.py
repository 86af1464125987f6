"""Our checkpoint format: one safetensors file, the config as JSON in its metadata.

safetensors holds only raw tensor bytes and a JSON header, so opening a file never executes code
(unlike pickles). A SHA-256 of the tensor bytes in the metadata catches silent corruption.
Files are written atomically (see :mod:`panohead.atomic`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from panohead.atomic import write_bytes_atomic
from panohead.config import GeneratorConfig
from panohead.errors import one_line

FORMAT_NAME = "panohead-studio"
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message is one line naming the file and the problem."""


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(tensors):
        hasher.update(name.encode())
        hasher.update(tensors[name].detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return hasher.hexdigest()


def model_fingerprint(generator: torch.nn.Module) -> str:
    """SHA-256 of a loaded generator's config and weights: the same model gives the same hex string
    whatever file (or format, or precision on disk) it came from, so caches and sessions can key on it."""
    hasher = hashlib.sha256(generator.config.to_json().encode())
    hasher.update(_digest(generator.state_dict()).encode())
    return hasher.hexdigest()


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], kind: str, metadata: dict[str, str]) -> None:
    """Write ``tensors`` with string ``metadata`` atomically; ``kind`` says what the file holds."""
    cpu = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    header = {**metadata, "format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": kind, "sha256": _digest(cpu)}
    write_bytes_atomic(path, save_safetensors(cpu, metadata=header))


def load_tensors(path: str | os.PathLike, kind: str | tuple[str, ...]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a file written by :func:`save_tensors`, checking format, kind and checksum."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    data = path.read_bytes()
    try:
        tensors = load_safetensors(data)
        header_size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8:8 + header_size]).get("__metadata__") or {}
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable PanoHead Studio checkpoint (truncated or corrupt: {error})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: safetensors file without PanoHead Studio metadata (use 'panohead convert' for official .pkl files)")
    kinds = (kind,) if isinstance(kind, str) else kind
    if metadata.get("kind") not in kinds:
        raise CheckpointError(f"{path}: holds a {metadata.get('kind')!r}, expected {' or '.join(map(repr, kinds))}")
    if _digest(tensors) != metadata.get("sha256"):
        raise CheckpointError(f"{path}: checksum mismatch, the file is corrupt")
    return tensors, metadata


def save_generator(path: str | os.PathLike, generator: torch.nn.Module, dtype: torch.dtype | None = None,
                   extra: dict[str, str] | None = None) -> None:
    """Save a generator's config and state; ``dtype=torch.float16`` halves the size (floats only)."""
    state = {}
    for name, tensor in generator.state_dict().items():
        state[name] = tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
    save_tensors(path, state, "generator", {"config": generator.config.to_json(), **(extra or {})})


TRAINING_DATA = ("synthetic", "photos")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of one of our safetensors files, from its header alone (no tensors read).
    Raises CheckpointError when the file is missing or not a safetensors file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= 100_000_000:
                raise ValueError(f"header size {size}")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({one_line(error)})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def training_data(path: str | os.PathLike, metadata: dict[str, str] | None = None) -> str | None:
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
    try:
        return GeneratorConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: invalid generator config in checkpoint ({error})") from None


def build_generator(path: Path, config: GeneratorConfig, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Instantiate a generator and load ``state`` strictly (floats cast to fp32)."""
    from panohead.generator import PanoHeadGenerator

    generator = PanoHeadGenerator(config)
    own = generator.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the config (missing: {missing[:5]}, unexpected: {unexpected[:5]})")
    for name, tensor in state.items():
        if tensor.shape != own[name].shape:
            raise CheckpointError(f"{path}: tensor {name} has shape {tuple(tensor.shape)}, expected {tuple(own[name].shape)}")
    generator.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return generator.eval().requires_grad_(False)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Load a generator from our format, or from an official snapshot pickle (``.pkl``).

    Official pickles are read with a restricted unpickler that never runs their embedded code.
    """
    path = Path(path)
    if path.suffix.lower() == ".pkl":
        from panohead.official import load_official_generator

        return load_official_generator(path).to(device)
    tensors, metadata = load_tensors(path, ("generator", "snapshot"))
    if metadata["kind"] == "snapshot":
        prefix = "G_ema."
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return build_generator(path, config_from_metadata(path, metadata), tensors).to(device)
