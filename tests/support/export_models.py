"""Models for the export tests: the tiny preset with a surface to mesh, and analytic fields."""

from __future__ import annotations

import torch

from panohead.camera import pixel_rays
from panohead.config import preset
from panohead.export.heads import head_from_seed
from panohead.export.views import BAKE_ORBIT, View
from panohead.generator import PanoHeadGenerator
from panohead.views.camera import orbit_camera

DENSITY_STRETCH = 30.0
# The stretched density is centred just above the mesh threshold (10), so about half the box is solid.
DENSITY_CENTRE = 12.0


def tiny_column_generator() -> PanoHeadGenerator:
    """The tiny preset whose density is an opaque vertical column in the middle of the box (|x|, |z|
    <= 0.2: the box is cropped by 0.3 on each side): a head with its background visible beside it."""
    torch.manual_seed(0)
    generator = PanoHeadGenerator(preset("tiny", crop_margin=0.3)).eval()
    with torch.no_grad():
        generator.decoder.out.bias[0] = 20.0  # softplus(20 - 1): opaque within a few hundredths of a unit
        generator.decoder.out.weight[1:] *= 0.3  # tamer colour features: fewer saturated pixels
        generator.decoder.out.bias[1:] *= 0.3
    return generator


def tiny_generator_with_surface() -> PanoHeadGenerator:
    """The tiny preset whose density output is stretched and biased so a random tri-grid has a surface.

    An untrained decoder's sigma barely varies (std ~0.1 about ~1.1), far below the mesh threshold;
    scaling the density row of the last layer by 30 and re-centring its bias gives blobs with
    floaters, like a real density field at a coarse scale.
    """
    torch.manual_seed(0)
    generator = PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False)
    head = head_from_seed(generator, 0)
    points = torch.rand(1, 4096, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    mean_sigma = generator.sample(head.planes, points)["sigma"].mean()
    out = generator.decoder.out
    with torch.no_grad():
        out.bias[0] = DENSITY_STRETCH * (out.bias[0] * out.bias_gain - mean_sigma) / out.bias_gain + DENSITY_CENTRE
        out.weight[0] *= DENSITY_STRETCH
    return generator


class SphereField:
    """Analytic field: density 10 + 40 * (radius - |p - centre|), so the level 10 is the sphere exactly.

    Colour encodes position (x, y, z) + 0.5 so painted vertices can be checked.
    """

    def __init__(
        self, radius: float, centre: tuple[float, float, float] = (0.0, 0.0, 0.0), half_extent: float = 0.5
    ) -> None:
        self.radius = radius
        self.centre = torch.tensor(centre)
        self.half_extent = half_extent
        self.device = torch.device("cpu")

    def density(self, points: torch.Tensor) -> torch.Tensor:
        return 10.0 + 40.0 * (self.radius - (points - self.centre).norm(dim=-1))

    def colour(self, points: torch.Tensor) -> torch.Tensor:
        return (points + 0.5).clamp(0, 1)


class TwoSpheresField(SphereField):
    """A large sphere and a small floater, for the largest-component filter."""

    def __init__(self) -> None:
        super().__init__(0.25, (-0.15, 0.0, 0.0))
        self.floater = SphereField(0.06, (0.35, 0.0, 0.0))

    def density(self, points: torch.Tensor) -> torch.Tensor:
        return torch.maximum(super().density(points), self.floater.density(points))


RADIUS = 0.3  # of the sphere in sphere_view
VIEW_SIZE = 64


def sphere_view(label: torch.Tensor, size: int = VIEW_SIZE) -> View:
    """The exact picture of SphereField(RADIUS): rays hit the sphere |p| = RADIUS and show its colour p + 0.5."""
    origins, directions = pixel_rays(label, size)
    o, d = origins[0], directions[0]
    b = (o * d).sum(-1)
    disc = b**2 - ((o * o).sum(-1) - RADIUS**2)
    hit = disc > 0
    t = -b - disc.clamp(min=0).sqrt()
    colour = (o + t[:, None] * d + 0.5).clamp(0, 1) * hit[:, None]
    return View(label, colour.reshape(size, size, 3), hit.float().reshape(size, size))


def sphere_views() -> list[View]:
    """sphere_view from every camera of BAKE_ORBIT (the orbit looks at the origin, where the sphere is)."""
    labels = orbit_camera([a[0] for a in BAKE_ORBIT], [a[1] for a in BAKE_ORBIT], look_at=(0.0, 0.0, 0.0))
    return [sphere_view(labels[i : i + 1]) for i in range(len(labels))]
