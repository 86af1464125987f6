"""What a mesh is extracted from: a density and a colour defined at any point of a cube.

Meshing code talks to a :class:`Field`, never to the generator, so tests can hand it an analytic
shape (a sphere) and the generator needs only a thin adapter, :class:`HeadField`.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from panohead.export.heads import Head
from panohead.generator import PanoHeadGenerator
from panohead.rendering.lattice import TrigridLattice
from panohead.rendering.volume import crop_outside_box


class Field(Protocol):
    """A density and a colour in the cube [-half_extent, half_extent]^3 (world units).

    A field may also offer ``density_rows(axis, start, stop)``: the density on the lattice
    ``axis`` x ``axis`` x ``axis`` for x-rows ``start:stop`` as (stop - start, N, N), equal to
    ``density`` at those points but faster; :func:`~panohead.export.mesh.sample_density` uses it.
    """

    half_extent: float
    device: torch.device

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """Points (M, 3) -> density (M,), larger inside the shape."""
        ...

    def colour(self, points: torch.Tensor) -> torch.Tensor:
        """Points (M, 3) -> RGB (M, 3) in [0, 1]."""
        ...


class HeadField:
    """A generated head's foreground radiance field, exactly as the volume renderer sees it.

    Density is ``softplus(sigma - 1)`` (the quantity Eq. 1 integrates) with the renderer's crop
    outside the tri-grid's horizontal extent applied; colour is :meth:`PanoHeadGenerator.feature_rgb`
    with the head's ws. The background network never enters. Coordinates are world coordinates
    (README "Coordinate frame": y up, the face towards +z, the tri-grid box of side ``box_warp``).
    """

    def __init__(self, generator: PanoHeadGenerator, head: Head) -> None:
        self.generator = generator
        self.head = head
        self.half_extent = generator.config.box_warp / 2
        self.device = head.planes.device
        self._settings = generator.ray_settings()
        self._lattice: TrigridLattice | None = None

    @torch.no_grad()
    def density(self, points: torch.Tensor) -> torch.Tensor:
        sigma = self.generator.sample(self.head.planes, points[None])["sigma"][0]
        return self._activate(points, sigma)[:, 0]

    @torch.no_grad()
    def density_rows(self, axis: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Density (stop - start, N, N) on the lattice of ``axis`` (N,), through :class:`TrigridLattice`."""
        if self._lattice is None or not torch.equal(self._lattice.axis, axis):
            cfg = self.generator.config
            self._lattice = TrigridLattice(self.head.planes, axis, cfg.box_warp, cfg.plane_layout)
        sigma = self.generator.decoder.density(self._lattice.rows(start, stop)[0])
        points = torch.stack(torch.meshgrid(axis[start:stop], axis, axis, indexing="ij"), dim=-1)
        return self._activate(points, sigma)[..., 0]

    def _activate(self, points: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Raw sigma (..., 1) -> the density the renderer integrates, zero outside its crop."""
        return F.softplus(crop_outside_box(points, sigma, self._settings) - 1.0)

    @torch.no_grad()
    def colour(self, points: torch.Tensor) -> torch.Tensor:
        features = self.generator.sample(self.head.planes, points[None])["features"]
        rgb = self.generator.feature_rgb(features, self.head.ws)[0]
        return ((rgb + 1) / 2).clamp(0, 1)
