"""Latents as immutable values: a seed, or explicit ws (an inverted photo, a latent file, a past edit).

Editing states are snapshots kept for undo, compared, hashed as render-cache keys and written to
session files, so a latent holds its numbers as float32 bytes rather than a live tensor: equal
bytes mean an equal latent, and a session round-trips them exactly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import torch

from panohead.generator import PanoHeadGenerator, seed_latent
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
    """A head's latent: exactly one of ``seed`` (mapped through the generator) or ``ws``.

    ``ws`` has shape (num_ws, w_dim) and is used as is (truncation applies to seeds). ``name`` is
    what the app shows, e.g. the photo an inverted latent came from.
    """

    seed: int | None = None
    ws: FloatArray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if (self.seed is None) == (self.ws is None):
            raise ValueError("a latent is either a seed or explicit ws, not both or neither")
        if self.ws is not None and len(self.ws.shape) != 2:
            raise ValueError(f"latent ws must have shape (num_ws, w_dim), got {list(self.ws.shape)}")

    @classmethod
    def from_seed(cls, seed: int) -> Latent:
        return cls(seed=int(seed))

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
        return self.name or (f"seed {self.seed}" if self.seed is not None else "latent")


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

    Seeds are mapped under ``conditioning`` (1, 25) and truncated by ``psi`` on the first ``cutoff``
    rows (exactly ``G.mapping(z, c, psi, cutoff)``). Explicit ws are used as they are: they are
    already a chosen point in w space (an inversion result, a saved edit), not a random sample.
    """
    cfg = generator.config
    if latent.seed is not None:
        return generator.mapping(seed_latent(latent.seed, cfg.z_dim, generator.device), conditioning, psi, cutoff)
    expected = (generator.num_ws, cfg.w_dim)
    if latent.ws.shape != expected:
        raise ValueError(
            f"{latent.label}: ws of shape {list(latent.ws.shape)} does not fit this model, "
            f"which needs {list(expected)} (was it made with another checkpoint?)"
        )
    return latent.ws.tensor(generator.device)[None]
