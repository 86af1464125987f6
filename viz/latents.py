"""Latent files (.npz): save the head on screen, load it back or load one written by another tool
(including the 'latent' .safetensors files ``panohead invert`` writes).

A file holds ``ws`` (1, num_ws, w_dim) and, when the head came from seeds, ``z`` (1, z_dim) plus
``seed``/``seed_b``/``blend``/``psi``. Loading accepts ``ws`` or ``w`` in shapes (num_ws, w_dim),
(1, num_ws, w_dim) or (1, w_dim) (broadcast to every layer), or only ``z`` (then mapped with the
current conditioning camera and truncation).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from panohead.atomic import write_bytes_atomic
from panohead.checkpoint import CheckpointError, load_tensors
from panohead.errors import UserError


class LatentError(UserError):
    """A latent file cannot be used; one line naming the file."""


def save_latent(path: str | os.PathLike, ws: np.ndarray, **extra: np.ndarray | float | int) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, ws=np.asarray(ws, dtype=np.float32)[None] if np.ndim(ws) == 2 else ws, **extra)
    write_bytes_atomic(path, buffer.getvalue())


def load_latent(path: str | os.PathLike, num_ws: int, w_dim: int, z_dim: int) -> dict[str, torch.Tensor]:
    """{"ws": (1, num_ws, w_dim)} or {"z": (1, z_dim)} from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise LatentError(f"{path}: latent file not found")
    if path.suffix.lower() == ".safetensors":
        try:
            tensors, _ = load_tensors(path, "latent")
        except CheckpointError as error:
            raise LatentError(str(error)) from None
        arrays = {name: tensor.numpy() for name, tensor in tensors.items()}
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name]) for name in data.files}
        except (OSError, ValueError) as error:
            raise LatentError(f"{path}: not a readable .npz latent ({error})") from None
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
