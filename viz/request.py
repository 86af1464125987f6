"""What the renderer is asked for: frozen, hashable specs built from :class:`viz.state.AppState`.

Requests double as cache keys, so only settings that change the picture are included: the
tri-grid inspector's settings, for example, are left out unless the tri-grid is on screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from panohead.editing import EditState
from panohead.precision import RENDERING, Precision
from panohead.views.images import Axis
from panohead.views.modes import ViewMode
from panohead.views.trigrid import TrigridSpec
from viz.state import AppState, Backdrop, BackgroundMode, ViewTarget


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
class BackgroundSpec:
    """What replaces the background network's picture behind the head, if anything."""

    mode: BackgroundMode = "model"
    image: FileSpec | None = None
    colour: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class RenderRequest:
    """(model source, the head as an :class:`EditState`, view settings). ``edit.camera`` is the view."""

    source: str
    device: str
    precision: Precision
    edit: EditState
    target: ViewTarget = "head"
    mode: ViewMode = "final"
    backdrop: Backdrop = "checkerboard"
    background: BackgroundSpec = BackgroundSpec()
    slice: tuple[Axis, float] | None = None  # (axis, offset) for the density/colour views
    trigrid: TrigridSpec | None = None
    cuda_graphs: bool = False  # replay the render and super-resolution stages from CUDA graphs (CUDA only)


def build_request(state: AppState, device: str) -> RenderRequest:
    edit = state.edit.with_camera(yaw=state.edit.camera.yaw % 360.0)
    view, bg = state.view, state.background
    # "Image file" picked but no file chosen yet: the model's own background until there is one, not an error.
    mode = "model" if bg.mode == "image" and not bg.image.strip() else bg.mode
    background = BackgroundSpec(
        mode=mode,
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
        precision=Precision.parse(state.model.precision, RENDERING),
        edit=edit,
        target=view.target,
        mode=view.mode,
        backdrop=view.backdrop,
        background=background,
        slice=(view.slice_axis, float(view.slice_offset)) if view.mode in ("density", "colour") else None,
        trigrid=trigrid,
        cuda_graphs=state.model.cuda_graphs,
    )


def head_name(request: RenderRequest) -> str:
    """File-name part for the head of ``request``: its seed(s), or the name of its latent (e.g. its file)."""
    latent = request.edit.latent
    if latent.seed is None:
        return Path(latent.label).stem
    name = f"seed{latent.seed:04d}"
    return f"{name}-{latent.seed_b:04d}_blend{latent.blend:.2f}" if latent.seed_b is not None else name
