"""What the renderer is asked for: frozen, hashable specs built from :class:`viz.state.AppState`.

Requests double as cache keys, so only settings that change the picture are included: the
tri-grid inspector's settings, for example, are left out unless the tri-grid is on screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from panohead.config import GeneratorConfig
from panohead.editing.directions import DirectionEdit
from panohead.editing.latents import Latent
from panohead.editing.state import Mixing
from panohead.views.camera import orbit_camera
from panohead.views.trigrid import TrigridSpec
from viz.state import AppState


@dataclass(frozen=True)
class CameraSpec:
    """An orbit camera in degrees; None fields take the model's defaults (camera_radius, focal, look_at)."""

    yaw: float = 0.0
    pitch: float = 0.0
    radius: float | None = None
    fov: float | None = None
    look_at: tuple[float, float, float] | None = None

    def label(self, config: GeneratorConfig, device: torch.device) -> torch.Tensor:
        """(1, 25) camera label."""
        return orbit_camera(
            self.yaw, self.pitch, config, radius=self.radius, look_at=self.look_at, fov=self.fov, device=device
        )

    def turned(self, yaw: float) -> CameraSpec:
        return CameraSpec(yaw, self.pitch, self.radius, self.fov, self.look_at)


@dataclass(frozen=True)
class FileSpec:
    """A file named by the user, with its modification time so an edited file is read again."""

    path: str
    stamp: float

    @classmethod
    def of(cls, path: str) -> FileSpec:
        try:
            stamp = os.stat(path).st_mtime
        except OSError:
            stamp = -1.0  # the renderer reports the missing file
        return cls(path, stamp)


@dataclass(frozen=True)
class SeedLatent:
    """w of one seed: mapping(z(seed), conditioning camera), truncated."""

    seed: int
    psi: float
    cutoff: int | None
    conditioning: CameraSpec


@dataclass(frozen=True)
class LatentSpec:
    """The head's ws: one seed, a w-space blend of two, or a latent file."""

    a: SeedLatent
    b: SeedLatent | None = None
    blend: float = 0.0
    file: FileSpec | None = None


@dataclass(frozen=True)
class BackgroundSpec:
    mode: str = "same"  # "same", "seed", "image", "colour", "transparent"
    seed: SeedLatent | None = None
    image: FileSpec | None = None
    colour: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Edits:
    """The editing panels' part of a request (see :mod:`viz.editor`): hashable engine values.

    ``latent`` explicit head ws that replace the latent panel's seeds or file (an inverted photo, an
    opened session, a keyframe being played); ``background`` explicit background ws that replace the
    background seed; style ``mixing`` and latent ``directions`` as :func:`panohead.editing.apply_edits`
    applies them.
    """

    latent: Latent | None = None
    background: Latent | None = None
    mixing: Mixing = Mixing()
    directions: tuple[DirectionEdit, ...] = ()


@dataclass(frozen=True)
class RenderRequest:
    source: str
    device: str
    precision: str
    latent: LatentSpec
    camera: CameraSpec
    target: str = "head"  # "head", "trigrid" or "mirror"
    mode: str = "final"
    backdrop: str = "checkerboard"
    background: BackgroundSpec = BackgroundSpec()
    slice: tuple[str, float] | None = None  # (axis, offset) for the density/colour views
    trigrid: TrigridSpec | None = None
    edits: Edits = Edits()
    cuda_graphs: bool = False  # replay the render and super-resolution stages from CUDA graphs (CUDA only)


def conditioning_camera(state: AppState) -> CameraSpec:
    cond = state.conditioning
    if cond.mode == "follow":
        return render_camera(state)
    if cond.mode == "custom":
        return CameraSpec(cond.yaw, cond.pitch)
    return CameraSpec()


def render_camera(state: AppState) -> CameraSpec:
    cam = state.camera
    return CameraSpec(cam.yaw % 360.0, cam.pitch, cam.radius, cam.fov, tuple(cam.look_at))


def build_request(state: AppState, device: str, edits: Edits = Edits()) -> RenderRequest:
    latent, cond = state.latent, conditioning_camera(state)
    seed_a = SeedLatent(latent.seed, latent.psi, latent.cutoff, cond)
    if latent.file:
        latent_spec = LatentSpec(seed_a, file=FileSpec.of(latent.file))
    elif latent.blend > 0.0:
        seed_b = SeedLatent(latent.seed_b, latent.psi, latent.cutoff, cond)
        latent_spec = LatentSpec(seed_a, seed_b, float(latent.blend))
    else:
        latent_spec = LatentSpec(seed_a)
    view, bg = state.view, state.background
    # "Image file" picked but no file chosen yet: the model's own background until there is one, not an error.
    mode = "same" if bg.mode == "image" and not bg.image.strip() else bg.mode
    background = BackgroundSpec(
        mode=mode,
        seed=SeedLatent(bg.seed, latent.psi, latent.cutoff, cond) if bg.mode == "seed" else None,
        image=FileSpec.of(bg.image) if mode == "image" else None,
        colour=tuple(bg.colour) if bg.mode == "colour" else None,
    )
    trigrid = None
    if view.target == "trigrid":
        t = state.trigrid
        trigrid = TrigridSpec(t.display, t.channel, t.colormap, t.all_planes, t.depth_index, tuple(t.offsets))
    return RenderRequest(
        source=state.model.source,
        device=device,
        precision=state.model.precision,
        latent=latent_spec,
        camera=render_camera(state),
        target=view.target,
        mode=view.mode,
        backdrop=view.backdrop,
        background=background,
        slice=(view.slice_axis, float(view.slice_offset)) if view.mode in ("density", "colour") else None,
        trigrid=trigrid,
        edits=edits,
        cuda_graphs=state.model.cuda_graphs,
    )
