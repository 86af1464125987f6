"""Latent files: a head's ws, and what it came from, in one small file that any of our tools reopens.

One writer, :func:`save_latent`, writes ``.npz`` atomically: ``ws`` (1, num_ws, w_dim) plus named
extras. The viewer's Latent panel adds the seeds (``seed``, ``seed_b``, ``blend``, ``psi``); the
inversion adds the portrait's camera ``label`` (1, 25), ``z`` (1, z_dim) when stage 1 optimised z,
and 0-d ``space``, ``loss_name``, ``source``, ``latent_loss``, ``pti_loss`` (NaN without PTI).

One reader, :func:`read_latent`, opens that ``.npz`` or one of our safetensors files of kind
"latent" (:mod:`panohead.checkpoint`), never unpickling anything. :func:`load_latent` fits what it
read to a model: ``ws`` or ``w`` in shapes (num_ws, w_dim), (1, num_ws, w_dim) or (1, w_dim)
(broadcast to every layer), or only ``z`` (which the caller maps with its camera and truncation).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from panohead.atomic import write_bytes_atomic
from panohead.checkpoint import CheckpointError, load_tensors
from panohead.errors import UserError, one_line

SUFFIX = ".npz"
KIND = "latent"  # the kind of our safetensors latent files


class LatentError(UserError):
    """A latent file cannot be written or used; one line naming the file."""


def _array(value: torch.Tensor | np.ndarray | float | int | str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float32).numpy()
    return np.asarray(value)


def save_latent(
    path: str | os.PathLike, ws: torch.Tensor | np.ndarray, **extra: torch.Tensor | np.ndarray | float | int | str
) -> None:
    """Write ``ws`` (num_ws, w_dim) or (1, num_ws, w_dim), as float32 (1, num_ws, w_dim), and the
    ``extra`` arrays or scalars to a ``.npz`` atomically (tensors become float32 arrays)."""
    if Path(path).suffix.lower() != SUFFIX:
        raise LatentError(f"{path}: latent files are written as {SUFFIX}")
    ws = _array(ws).astype(np.float32)
    arrays = {"ws": ws[None] if ws.ndim == 2 else ws, **{name: _array(value) for name, value in extra.items()}}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def read_latent(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the latent file ``path`` (.npz, or our safetensors of kind "latent"), as saved."""
    path = Path(path)
    if not path.is_file():
        raise LatentError(f"{path}: latent file not found")
    if path.suffix.lower() == ".safetensors":
        try:
            tensors, _ = load_tensors(path, KIND)
        except CheckpointError as error:
            raise LatentError(str(error)) from None
        return {name: tensor.numpy() for name, tensor in tensors.items()}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as error:
        raise LatentError(f"{path}: not a readable {SUFFIX} latent ({one_line(error)})") from None


def load_latent(path: str | os.PathLike, num_ws: int, w_dim: int, z_dim: int) -> dict[str, torch.Tensor]:
    """{"ws": (1, num_ws, w_dim)} or, for a file with only z, {"z": (1, z_dim)}: the latent in
    ``path`` in the shapes a model with those sizes takes."""
    arrays = read_latent(path)
    for name in ("ws", "w"):
        if name in arrays:
            ws = torch.from_numpy(arrays[name].astype(np.float32))
            if ws.ndim == 2 and ws.shape == (num_ws, w_dim):
                ws = ws[None]
            elif ws.ndim == 2 and ws.shape == (1, w_dim):
                ws = ws[:, None].expand(1, num_ws, w_dim)
            if tuple(ws.shape) != (1, num_ws, w_dim):
                raise LatentError(
                    f"{path}: '{name}' has shape {tuple(arrays[name].shape)}, this model needs ({num_ws}, {w_dim})"
                )
            return {"ws": ws.contiguous()}
    if "z" in arrays:
        z = torch.from_numpy(arrays["z"].astype(np.float32)).reshape(1, -1)
        if z.shape[1] != z_dim:
            raise LatentError(f"{path}: 'z' has {z.shape[1]} numbers, this model needs {z_dim}")
        return {"z": z}
    raise LatentError(f"{path}: no 'ws', 'w' or 'z' array (found: {', '.join(arrays) or 'none'})")
