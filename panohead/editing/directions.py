"""Latent directions: named unit vectors in w space, moved along in units of the w distribution's spread.

An edit adds ``amount * scale * vector`` to the head's ws, where ``scale`` is the standard deviation
of the model's w along ``vector``; an amount of 1 is one standard deviation whichever direction it is,
so sliders feel alike. Direction sets are saved in our safetensors format (kind 'directions'); plain
``.npy`` files with shape (k, w_dim) or (w_dim,) from elsewhere load too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from panohead.checkpoint import CheckpointError, load_tensors, save_tensors
from panohead.editing.latents import FloatArray
from panohead.editing.mixing import LayerRange
from panohead.errors import one_line
from panohead.untrusted import UntrustedDataError, parse_json

KIND = "directions"


@dataclass(frozen=True)
class Direction:
    """One direction: ``vector`` (w_dim,) of unit length, the w spread ``scale`` along it, and for PCA
    directions the share of the w variance it explains (None otherwise)."""

    name: str
    vector: FloatArray
    scale: float = 1.0
    explained: float | None = None

    @classmethod
    def of(
        cls, name: str, vector: torch.Tensor | np.ndarray, scale: float = 1.0, explained: float | None = None
    ) -> Direction:
        return cls(name, FloatArray.of(np.asarray(vector, dtype=np.float32).reshape(-1)), float(scale), explained)

    @property
    def w_dim(self) -> int:
        return self.vector.shape[0]

    def renamed(self, name: str) -> Direction:
        return Direction(name, self.vector, self.scale, self.explained)


@dataclass(frozen=True)
class DirectionEdit:
    """A direction and how far along it the head is moved (in standard deviations).

    ``layers`` limits the offset to a range of head w rows (None: all rows), e.g. only the coarse
    rows to change the shape but not the colours.
    """

    direction: Direction
    amount: float = 0.0
    layers: LayerRange | None = None


def amount_along(edits: tuple[DirectionEdit, ...], direction: Direction) -> float:
    """How far ``edits`` move along ``direction`` (matched by its vector; 0 if not at all)."""
    return next((e.amount for e in edits if e.direction.vector == direction.vector), 0.0)


def with_amount(
    edits: tuple[DirectionEdit, ...], direction: Direction, amount: float, layers: LayerRange | None = None
) -> tuple[DirectionEdit, ...]:
    """``edits`` with the amount along ``direction`` set (in place of an edit with the same vector);
    amount 0 removes the edit, so moving along a direction and back gives back equal edits."""
    if amount == 0.0:
        return tuple(e for e in edits if e.direction.vector != direction.vector)
    edit = DirectionEdit(direction, float(amount), layers)
    if not any(e.direction.vector == direction.vector for e in edits):
        return tuple(edits) + (edit,)
    return tuple(edit if e.direction.vector == direction.vector else e for e in edits)


def apply_directions(ws: torch.Tensor, edits: tuple[DirectionEdit, ...] | list[DirectionEdit]) -> torch.Tensor:
    """ws (B, num_ws, w_dim) moved by every edit; edits with amount 0 leave ws bit-for-bit unchanged."""
    for edit in edits:
        if edit.amount == 0.0:
            continue
        if edit.direction.w_dim != ws.shape[-1]:
            raise ValueError(
                f"direction {edit.direction.name!r} has {edit.direction.w_dim} numbers, "
                f"this model's w has {ws.shape[-1]}"
            )
        offset = edit.direction.vector.tensor(ws.device) * float(edit.amount * edit.direction.scale)
        start, stop = edit.layers or (0, ws.shape[1])
        ws = ws.clone()
        ws[:, start:stop] += offset
    return ws


def save_directions(
    path: str | os.PathLike,
    directions: list[Direction],
    metadata: dict[str, str] | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write directions (and optional ``extra`` tensors, e.g. PCA statistics) atomically, kind 'directions'."""
    if not directions:
        raise ValueError(f"{path}: no directions to save")
    tensors = {
        "vectors": torch.stack([d.vector.tensor() for d in directions]),
        "scales": torch.tensor([d.scale for d in directions], dtype=torch.float32),
        **(extra or {}),
    }
    names = json.dumps([d.name for d in directions])
    explained = json.dumps([d.explained for d in directions])
    save_tensors(path, tensors, KIND, {"names": names, "explained": explained, **(metadata or {})})


def load_directions(path: str | os.PathLike, w_dim: int, covariance: torch.Tensor | None = None) -> list[Direction]:
    """Directions from our file or a plain ``.npy`` (k, w_dim) / (w_dim,), checked against ``w_dim``.

    Vectors are normalised to unit length. A ``.npy`` carries no spreads: with ``covariance`` (the w
    covariance (w_dim, w_dim), see :meth:`panohead.editing.pca.PrincipalDirections.covariance`) each scale is
    the w standard deviation along the vector, otherwise 1. Errors are one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: direction file not found")
    if path.suffix.lower() == ".npy":
        vectors, names, scales, explained = _read_npy(path), None, None, None
    else:
        tensors, metadata = load_tensors(path, KIND)
        vectors = tensors["vectors"].double().numpy() if "vectors" in tensors else None
        if vectors is None or vectors.ndim != 2:
            raise CheckpointError(f"{path}: directions file has no (k, w_dim) 'vectors' tensor")
        names, scales = _names(path, metadata, len(vectors)), tensors.get("scales")
        try:
            explained = parse_json(metadata.get("explained", "null"))
        except UntrustedDataError as error:
            raise CheckpointError(f"{path}: invalid 'explained' metadata ({error})") from None
    vectors = np.atleast_2d(vectors)
    if vectors.shape[1] != w_dim:
        raise ValueError(f"{path}: directions have {vectors.shape[1]} numbers each, this model's w has {w_dim}")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
        raise ValueError(f"{path}: direction vectors must be finite and non-zero")
    vectors = vectors / norms[:, None]
    directions = []
    for index, vector in enumerate(vectors):
        if scales is not None:
            scale = float(scales[index])
        elif covariance is not None:
            v = torch.as_tensor(vector, dtype=torch.float64)
            scale = float((v @ covariance.double().cpu() @ v).clamp_min(0).sqrt())
        else:
            scale = 1.0
        share = explained[index] if isinstance(explained, list) and index < len(explained) else None
        name = names[index] if names else f"{path.stem} {index + 1}"
        directions.append(Direction.of(name, vector, scale, share))
    return directions


def _read_npy(path: Path) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: not a readable .npy array ({one_line(error)})") from None
    if vectors.ndim not in (1, 2) or vectors.size == 0 or not np.issubdtype(vectors.dtype, np.number):
        raise ValueError(
            f"{path}: expected a numeric array of shape (k, w_dim) or (w_dim,), got shape "
            f"{list(vectors.shape)} of {vectors.dtype}"
        )
    return vectors.astype(np.float64)


def _names(path: Path, metadata: dict[str, str], count: int) -> list[str]:
    try:
        names = parse_json(metadata.get("names", "[]"))
    except UntrustedDataError:
        names = []
    if not isinstance(names, list) or len(names) != count:
        return [f"{path.stem} {index + 1}" for index in range(count)]
    return [str(name) for name in names]
