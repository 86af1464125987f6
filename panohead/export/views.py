"""The generator's own pictures of a head from many cameras: what textures are baked from and splats fit to.

cameras = orbit_views(generator, BAKE_ORBIT)          # (V, 25) labels around the head
views = generator_views(generator, head, cameras)     # final super-resolved images and masks
full = generator_views(generator, head, cameras, with_background=True)  # the whole picture
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch

from panohead.export.heads import Head
from panohead.export.tasks import FractionReport, check_cancel, report
from panohead.generator import PanoHeadGenerator
from panohead.views.camera import orbit_camera

# (yaw, pitch) in degrees: a ring every 30 degrees at eye level (front, sides, back), a ring from
# above and one from below, and the top of the head; 24 views see every part of a head but the neck.
BAKE_ORBIT: tuple[tuple[float, float], ...] = (
    tuple((yaw, 0.0) for yaw in range(0, 360, 30))
    + tuple((yaw, 35.0) for yaw in range(0, 360, 60))
    + tuple((yaw, -25.0) for yaw in range(45, 360, 90))
    + ((0.0, 75.0), (180.0, 75.0))
)
# Eight views none of the above contains, for measuring an asset's fidelity (front, back and sides).
HELD_OUT_ORBIT: tuple[tuple[float, float], ...] = (
    (0.0, 10.0),
    (45.0, -10.0),
    (90.0, 15.0),
    (135.0, 5.0),
    (180.0, 10.0),
    (225.0, -10.0),
    (270.0, 15.0),
    (315.0, 5.0),
)


@dataclass(frozen=True)
class View:
    """One picture of the head on a black background, or of the whole picture.

    ``label`` (1, 25) camera; ``image`` (S, S, 3) the colour premultiplied by the mask (the head
    matted on black), in [0, 1], or with ``with_background`` the generator's whole final image (head
    in front of its background); ``mask`` (S, S) the head's opacity in [0, 1].
    """

    label: torch.Tensor
    image: torch.Tensor
    mask: torch.Tensor


def orbit_views(generator: PanoHeadGenerator, angles: tuple[tuple[float, float], ...]) -> torch.Tensor:
    """(V, 25) camera labels at (yaw, pitch) degrees on the model's orbit, looking at its pivot."""
    yaws, pitches = zip(*angles, strict=True)
    return orbit_camera(torch.tensor(yaws), torch.tensor(pitches), generator)


@torch.no_grad()
def generator_view(
    generator: PanoHeadGenerator, head: Head, label: torch.Tensor, with_background: bool = False
) -> View:
    """The final (super-resolved) image of ``head`` from camera ``label`` (1, 25), matted on black
    (or, ``with_background``, in front of the head's background)."""
    background = head.background
    if background is not None and not with_background:
        background = torch.zeros_like(background)
    out = generator.render(head.planes, head.ws, label, background=background)
    mask = out["mask"][0, 0].clamp(0, 1)
    image = ((out["image"][0].permute(1, 2, 0) + 1) / 2).clamp(0, 1)
    if not with_background:
        image = image * mask[..., None]
    return View(label.cpu(), image.float().cpu(), mask.float().cpu())


def generator_views(
    generator: PanoHeadGenerator,
    head: Head,
    cameras: torch.Tensor,
    progress: FractionReport | None = None,
    cancel: threading.Event | None = None,
    with_background: bool = False,
) -> list[View]:
    """One :class:`View` per camera of ``cameras`` (V, 25)."""
    views = []
    for index in range(len(cameras)):
        check_cancel(cancel)
        views.append(generator_view(generator, head, cameras[index : index + 1], with_background))
        report(progress, (index + 1) / len(cameras))
    return views
