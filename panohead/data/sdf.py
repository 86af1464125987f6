"""Signed distance functions of the primitives the synthetic heads are built from.

Points are :class:`Vec` triples of contiguous (N,) tensors (structure of arrays: elementwise ops on
contiguous rows are several times faster on the CPU than reductions over a trailing axis of 3).
Shape parameters broadcast against them ((N,) tensors or floats). The ellipsoid and tapered capsule
are distance bounds, not exact distances, which sphere tracing tolerates with slightly shortened
steps (see ``panohead.data.synth``). Formulas are the standard ones (e.g. Hart 1996, "Sphere tracing").
"""

from __future__ import annotations

import torch

Scalar = torch.Tensor | float


class Vec:
    """A batch of 3-vectors stored as three (N,) tensors (or floats, for constants)."""

    __slots__ = ("x", "y", "z")

    def __init__(self, x: Scalar, y: Scalar, z: Scalar):
        self.x, self.y, self.z = x, y, z

    @staticmethod
    def _parts(other) -> tuple[Scalar, Scalar, Scalar]:
        return (other.x, other.y, other.z) if isinstance(other, Vec) else (other, other, other)

    def __add__(self, other) -> Vec:
        ox, oy, oz = self._parts(other)
        return Vec(self.x + ox, self.y + oy, self.z + oz)

    def __sub__(self, other) -> Vec:
        ox, oy, oz = self._parts(other)
        return Vec(self.x - ox, self.y - oy, self.z - oz)

    def __mul__(self, other) -> Vec:
        ox, oy, oz = self._parts(other)
        return Vec(self.x * ox, self.y * oy, self.z * oz)

    __rmul__ = __mul__

    def __truediv__(self, other) -> Vec:
        ox, oy, oz = self._parts(other)
        return Vec(self.x / ox, self.y / oy, self.z / oz)

    def __neg__(self) -> Vec:
        return Vec(-self.x, -self.y, -self.z)

    def take(self, index: torch.Tensor) -> Vec:
        """The entries ``index`` of each (N,) batch; a float (a constant) stays as it is."""
        x, y, z = (p[index] if isinstance(p, torch.Tensor) else p for p in (self.x, self.y, self.z))
        return Vec(x, y, z)

    def dot(self, other: Vec) -> torch.Tensor:
        """(N,) dot products (a 0-dim tensor when both are constants)."""
        return torch.as_tensor(self.x * other.x + self.y * other.y + self.z * other.z)

    def norm(self) -> torch.Tensor:
        return torch.sqrt(self.x * self.x + self.y * self.y + self.z * self.z)

    def normalized(self) -> Vec:
        return self / self.norm().clamp_min(1e-9)

    def mirror_x(self) -> Vec:
        """(|x|, y, z): evaluates bilateral pairs (eyes, ears) with one primitive."""
        return Vec(self.x.abs(), self.y, self.z)

    def stack(self) -> torch.Tensor:
        """(N, 3) tensor."""
        return torch.stack(torch.broadcast_tensors(*(torch.as_tensor(v) for v in (self.x, self.y, self.z))), dim=-1)

    @staticmethod
    def of(tensor: torch.Tensor) -> Vec:
        """(N, 3) tensor -> Vec of contiguous columns."""
        return Vec(*(tensor[:, i].contiguous() for i in range(3)))


def ellipsoid(p: Vec, radii: Vec) -> torch.Tensor:
    """Distance bound to an origin-centred ellipsoid with semi-axes ``radii``; exact on the surface."""
    scaled = p / radii
    k0 = scaled.norm()
    k1 = (scaled / radii).norm().clamp_min(1e-6)
    return k0 * (k0 - 1.0) / k1


def sphere(p: Vec, radius: Scalar) -> torch.Tensor:
    return p.norm() - radius


def capsule(p: Vec, a: Vec, b: Vec, radius_a: Scalar, radius_b: Scalar | None = None) -> torch.Tensor:
    """Distance to the segment a-b thickened by a radius going linearly from ``radius_a`` to ``radius_b``."""
    pa, ba = p - a, b - a
    h = (pa.dot(ba) / torch.as_tensor(ba.dot(ba)).clamp_min(1e-9)).clamp(0.0, 1.0)
    radius = radius_a if radius_b is None else radius_a + (radius_b - radius_a) * h
    return (pa - ba * h).norm() - radius


def torus_z(p: Vec, major: Scalar, minor: Scalar) -> torch.Tensor:
    """Distance to a torus around the z axis (a ring in the xy plane, e.g. a spectacle rim)."""
    ring = torch.sqrt(p.x * p.x + p.y * p.y) - major
    return torch.sqrt(ring * ring + p.z * p.z) - minor


def smooth_min(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Polynomial smooth union of two distances; ``k`` is the blend width in world units."""
    h = (0.5 + (0.5 / k) * (b - a)).clamp(0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def smooth_max(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Smooth intersection (or, with ``-b``, smooth subtraction)."""
    h = (0.5 - (0.5 / k) * (b - a)).clamp(0.0, 1.0)
    return b + (a - b) * h + k * h * (1.0 - h)


def smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
