"""The editing state: one immutable value holding every edit of a head, and the ws it composes to.

    state = EditState(latent=Latent.from_seed(3), psi=0.7)
    state = state.replace(mixing=Mixing(Latent.from_seed(8), layers=group_range(G.synthesis, "fine")))
    state = state.with_direction(pca.top(5)[0], 2.0)
    image = render_state(G, state)["image"]

States are snapshots: undo keeps old ones, sessions write them to JSON, the app hashes them as render
cache keys. The composition order is fixed: latents (seeds truncated) -> style mixing -> directions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from panohead.config import GeneratorConfig
from panohead.editing.directions import Direction, DirectionEdit, amount_along, apply_directions, with_amount
from panohead.editing.latents import Latent, conditioning_label, latent_ws
from panohead.editing.mixing import LayerRange, check_range, mix_ws
from panohead.generator import PanoHeadGenerator
from panohead.views.camera import orbit_camera

FOLLOW_CAMERA = "camera"  # EditState.conditioning: condition on the rendering camera itself


@dataclass(frozen=True)
class Camera:
    """An orbit camera in degrees (yaw 0 = front, 180 = back; pitch = elevation). ``radius``, ``fov``
    (official FOV convention, see :func:`panohead.camera.focal_from_fov`) and the orbit's pivot
    ``look_at`` default to the model's."""

    yaw: float = 0.0
    pitch: float = 0.0
    radius: float | None = None
    fov: float | None = None
    look_at: tuple[float, float, float] | None = None

    def label(self, generator: PanoHeadGenerator) -> torch.Tensor:
        """(1, 25) camera label on the generator's device."""
        return self.config_label(generator.config, generator.device)

    def config_label(self, config: GeneratorConfig, device: torch.device | str) -> torch.Tensor:
        """(1, 25) camera label for a model of ``config`` (its defaults fill the None fields) on ``device``."""
        return orbit_camera(
            self.yaw, self.pitch, config, radius=self.radius, look_at=self.look_at, fov=self.fov, device=device
        )


@dataclass(frozen=True)
class Mixing:
    """Style mixing with a second latent: head w rows ``layers`` and background w rows
    ``background_layers`` ([start, stop), see :mod:`panohead.editing.mixing`) come from ``latent``."""

    latent: Latent | None = None
    layers: LayerRange = (0, 0)
    background_layers: LayerRange = (0, 0)


@dataclass(frozen=True)
class EditState:
    """Every edit of one head.

    ``latent`` the head (a seed or explicit ws, e.g. an inverted photo); ``psi`` the truncation of
    seed latents towards the mean w, on their first ``cutoff`` w rows (None: all; explicit ws are used
    as they are); ``conditioning`` (yaw, pitch) in degrees on the model's orbit, the camera seeds are
    mapped under (Sec. 3.1), or :data:`FOLLOW_CAMERA` for ``camera`` itself (the head changes with the view);
    ``mixing`` style mixing; ``directions`` offsets along latent directions; ``background`` the
    background network's latent (None: the head's own, as the generator does); ``camera`` the view.
    """

    latent: Latent = field(default_factory=lambda: Latent.from_seed(0))
    psi: float = 0.7
    cutoff: int | None = None
    conditioning: tuple[float, float] | str = (0.0, 0.0)
    mixing: Mixing = field(default_factory=Mixing)
    directions: tuple[DirectionEdit, ...] = ()
    background: Latent | None = None
    camera: Camera = field(default_factory=Camera)

    def replace(self, **changes) -> EditState:
        return dataclasses.replace(self, **changes)

    def with_camera(self, **fields) -> EditState:
        """The same head seen from a camera with ``fields`` (``yaw``, ``pitch``, ``radius``, ...) changed."""
        return self.replace(camera=dataclasses.replace(self.camera, **fields))

    def amount(self, direction: Direction) -> float:
        """How far the head is moved along ``direction`` (0 if not at all)."""
        return amount_along(self.directions, direction)

    def with_direction(self, direction: Direction, amount: float, layers: LayerRange | None = None) -> EditState:
        """Set the amount along ``direction`` (see :func:`panohead.editing.directions.with_amount`)."""
        return self.replace(directions=with_amount(self.directions, direction, amount, layers))

    @property
    def follows_camera(self) -> bool:
        """Whether the head's ws depend on :attr:`camera` (conditioning on the rendering camera)."""
        return self.conditioning == FOLLOW_CAMERA

    def conditioning_label(self, generator: torch.nn.Module) -> torch.Tensor:
        """(1, 25) camera the state's seeds are mapped under."""
        if self.follows_camera:
            return self.camera.label(generator)
        return conditioning_label(generator, *self.conditioning)


@torch.no_grad()
def compose(
    generator: PanoHeadGenerator, state: EditState, mapped: Callable[[Latent], torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The state's head ws (1, num_ws, w_dim) and background ws (1, background.num_ws, w_dim), or None
    for a model without a background network.

    With no edits this is exactly what ``G.mapping(z, frontal, psi, cutoff)`` and the generator's default
    background give, bit for bit. ``mapped(latent)`` gives the ws (1, num_ws, w_dim) of one of the state's
    latents; by default :func:`latent_ws` under the state's conditioning and truncation (a viewer passes
    the same with a cache).
    """
    if mapped is None:
        conditioning = state.conditioning_label(generator)
        mapped = lambda latent: latent_ws(generator, latent, conditioning, state.psi, state.cutoff)  # noqa: E731
    ws = mapped(state.latent)
    background = ws if state.background is None else mapped(state.background)
    mixing = state.mixing
    ws_b = None if mixing.latent is None else mapped(mixing.latent)
    return apply_edits(generator, ws, background, ws_b, mixing, state.directions)


def apply_edits(
    generator: PanoHeadGenerator,
    ws: torch.Tensor,
    background_ws: torch.Tensor,
    mixing_ws: torch.Tensor | None,
    mixing: Mixing,
    directions: tuple[DirectionEdit, ...],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Style mixing, then directions, on latents already mapped (and truncated).

    ``ws`` (1, num_ws, w_dim) the head; ``background_ws`` (1, >= background.num_ws, w_dim) the latent
    behind it (the head's own ws for the generator's default); ``mixing_ws`` (1, num_ws, w_dim) the
    second latent, or None. Returns the head's ws and the background network's ws (1,
    background.num_ws, w_dim), or None without a background network. Directions move the head only.
    """
    if mixing_ws is not None:
        ws = mix_ws(ws, mixing_ws, check_range(mixing.layers, generator.num_ws, "head mixing"))
    ws = apply_directions(ws, directions)
    if generator.background is None:
        return ws, None
    count = generator.background.num_ws
    background_ws = background_ws[:, :count]
    if mixing_ws is not None:
        background_ws = mix_ws(
            background_ws, mixing_ws[:, :count], check_range(mixing.background_layers, count, "background mixing")
        )
    return ws, background_ws


@torch.no_grad()
def render_state(generator: PanoHeadGenerator, state: EditState, **render_kwargs) -> dict[str, torch.Tensor]:
    """Render the edited head from ``state.camera``; ``render_kwargs`` go to ``G.render``."""
    ws, background_ws = compose(generator, state)
    planes = generator.synthesize_planes(ws)
    background = None if background_ws is None else generator.synthesize_background(background_ws)
    return generator.render(planes, ws, state.camera.label(generator), background=background, **render_kwargs)
