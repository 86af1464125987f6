"""Latents as immutable values: a seed (optionally blended with a second one), a z, or explicit ws (an
inverted photo, a latent file, a past edit).

Editing states are snapshots kept for undo, compared, hashed as render-cache keys and written to
session files, so a latent holds its numbers as float32 bytes rather than a live tensor: equal
bytes mean an equal latent, and a session round-trips them exactly.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.latent_file import load_latent
from panohead.views.camera import orbit_camera


@dataclass(frozen=True)
class FloatArray:
    """An immutable float32 array (``shape``, little-endian ``data``) with value equality."""

    shape: tuple[int, ...]
    data: bytes

    @classmethod
    def of(cls, values: torch.Tensor | np.ndarray) -> FloatArray:
        if isinstance(values, torch.Tensor):
            values = values.detach().to("cpu", torch.float32).numpy()
        array = np.ascontiguousarray(values, dtype="<f4")
        return cls(tuple(int(n) for n in array.shape), array.tobytes())

    def numpy(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype="<f4").reshape(self.shape).copy()

    def tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        return torch.from_numpy(self.numpy()).to(device)

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "float32": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_json(cls, values: dict) -> FloatArray:
        """Inverse of :meth:`to_json`; a ``ValueError`` says what is wrong."""
        try:
            shape = tuple(int(n) for n in values["shape"])
            data = base64.b64decode(values["float32"], validate=True)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"array needs 'shape' and base64 'float32' ({error})") from None
        if len(data) != 4 * int(np.prod(shape)):
            raise ValueError(f"array of shape {list(shape)} needs {4 * int(np.prod(shape))} bytes, got {len(data)}")
        return cls(shape, data)


@dataclass(frozen=True)
class Latent:
    """A head's latent: exactly one of ``seed`` or ``z`` (mapped through the generator) or ``ws``.

    ``z`` has shape (z_dim,), e.g. from a latent file that stores only z; ``ws`` has shape (num_ws,
    w_dim) and is used as is (truncation applies to seeds and z). A seed with ``seed_b`` is a w-space
    blend of two seeds: their truncated ws interpolated by ``blend`` (0 = ``seed``, 1 = ``seed_b``).
    ``name`` is what the app shows, e.g. the photo an inverted latent came from.
    """

    seed: int | None = None
    ws: FloatArray | None = None
    name: str = ""
    z: FloatArray | None = None
    seed_b: int | None = None
    blend: float = 0.0

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.seed, self.z, self.ws)) != 1:
            raise ValueError("a latent is exactly one of a seed, a z or explicit ws")
        if self.ws is not None and len(self.ws.shape) != 2:
            raise ValueError(f"latent ws must have shape (num_ws, w_dim), got {list(self.ws.shape)}")
        if self.z is not None and len(self.z.shape) != 1:
            raise ValueError(f"latent z must have shape (z_dim,), got {list(self.z.shape)}")
        if self.seed_b is not None and self.seed is None:
            raise ValueError("only a seed can be blended with a second seed")

    @classmethod
    def from_seed(cls, seed: int) -> Latent:
        return cls(seed=int(seed))

    @classmethod
    def blended(cls, seed: int, seed_b: int, blend: float) -> Latent:
        """``seed`` moved towards ``seed_b`` in w space by ``blend``; a plain seed when ``blend`` is 0."""
        if blend <= 0.0:
            return cls.from_seed(seed)
        return cls(seed=int(seed), seed_b=int(seed_b), blend=float(blend))

    @classmethod
    def from_z(cls, z: torch.Tensor | np.ndarray, name: str = "") -> Latent:
        """z (z_dim,) or (1, z_dim), mapped like a seed's."""
        array = FloatArray.of(z)
        return cls(z=FloatArray((int(np.prod(array.shape)),), array.data), name=name)

    @classmethod
    def from_file(cls, path: str | os.PathLike, num_ws: int, w_dim: int, z_dim: int) -> Latent:
        """The head a latent file holds (:mod:`panohead.latent_file`), named after the file: its ws, or its
        z (mapped like a seed's). Raises :class:`panohead.latent_file.LatentError`."""
        loaded = load_latent(path, num_ws, w_dim, z_dim)
        name = Path(path).name
        return cls.from_ws(loaded["ws"][0], name) if "ws" in loaded else cls.from_z(loaded["z"][0], name)

    @classmethod
    def from_ws(cls, ws: torch.Tensor | np.ndarray, name: str = "") -> Latent:
        """ws (num_ws, w_dim) or (1, num_ws, w_dim), e.g. an inversion result."""
        array = FloatArray.of(ws)
        if len(array.shape) == 3 and array.shape[0] == 1:
            array = FloatArray(array.shape[1:], array.data)
        if len(array.shape) != 2:
            raise ValueError(
                f"{name or 'latent'}: ws must have shape (num_ws, w_dim) or (1, num_ws, w_dim), got {list(array.shape)}"
            )
        return cls(ws=array, name=name)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.seed_b is not None:
            return f"seeds {self.seed} and {self.seed_b} blended"
        return f"seed {self.seed}" if self.seed is not None else "latent"


def conditioning_label(generator: PanoHeadGenerator, yaw: float = 0.0, pitch: float = 0.0) -> torch.Tensor:
    """(1, 25) camera the mapping network is conditioned on (Sec. 3.1); degrees, the model's orbit."""
    return orbit_camera(yaw, pitch, generator)


@torch.no_grad()
def latent_ws(
    generator: PanoHeadGenerator,
    latent: Latent,
    conditioning: torch.Tensor,
    psi: float = 1.0,
    cutoff: int | None = None,
) -> torch.Tensor:
    """ws (1, num_ws, w_dim) of ``latent``.

    Seeds and z are mapped under ``conditioning`` (1, 25) and truncated by ``psi`` on the first
    ``cutoff`` rows (exactly ``G.mapping(z, c, psi, cutoff)``); a blend interpolates two seeds' ws.
    Explicit ws are used as they are: they are already a chosen point in w space (an inversion
    result, a saved edit), not a random sample.
    """
    cfg, device = generator.config, generator.device
    if latent.seed is not None:
        ws = generator.mapping(seed_latent(latent.seed, cfg.z_dim, device), conditioning, psi, cutoff)
        if latent.seed_b is not None:
            ws_b = generator.mapping(seed_latent(latent.seed_b, cfg.z_dim, device), conditioning, psi, cutoff)
            ws = torch.lerp(ws, ws_b, latent.blend)
        return ws
    if latent.z is not None:
        if latent.z.shape != (cfg.z_dim,):
            raise ValueError(
                f"{latent.label}: z of {latent.z.shape[0]} numbers does not fit this model, which needs {cfg.z_dim}"
            )
        return generator.mapping(latent.z.tensor(device)[None], conditioning, psi, cutoff)
    expected = (generator.num_ws, cfg.w_dim)
    if latent.ws.shape != expected:
        raise ValueError(
            f"{latent.label}: ws of shape {list(latent.ws.shape)} does not fit this model, "
            f"which needs {list(expected)} (was it made with another checkpoint?)"
        )
    return latent.ws.tensor(generator.device)[None]
