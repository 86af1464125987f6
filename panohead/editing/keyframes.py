"""Keyframes: edited heads with cameras, and the smooth path through them that plays or exports as video.

A keyframe is a full :class:`EditState` (latent, edits, camera). Between keyframes the composed ws are
interpolated (linearly, or spherically about the mean w) and the camera moves with them: pitch,
radius, field of view and pivot linearly, yaw along the shortest arc or with whole extra turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, get_args

import torch

from panohead.camera import fov_from_focal
from panohead.editing.state import Camera, EditState, compose
from panohead.generator import PanoHeadGenerator
from panohead.numbers import number_problem

Interpolation = Literal["slerp", "lerp"]  # of the latents between keyframes: spherical or linear
INTERPOLATIONS: tuple[Interpolation, ...] = get_args(Interpolation)
MAX_FRAMES_PER_SEGMENT = 36_000  # 20 minutes at 30 fps between two keyframes
MAX_TURNS = 1000
YawMode = Literal["shortest", "turns"]  # the short way round, or whole turns added to each segment
YAW_MODES: tuple[YawMode, ...] = get_args(YawMode)


@dataclass(frozen=True)
class Keyframe:
    state: EditState
    name: str = ""


@dataclass(frozen=True)
class PathSettings:
    """How to move through keyframes.

    ``frames_per_segment`` frames from one keyframe to the next (the next keyframe starts the next
    segment); ``loop`` adds a segment from the last keyframe back to the first. ``yaw_mode``
    "shortest" turns the camera the short way round, "turns" adds ``turns`` full turns (negative:
    the other way) to each segment, so a single looped keyframe becomes a turntable.
    """

    frames_per_segment: int = 60
    interpolation: Interpolation = "slerp"
    yaw_mode: YawMode = "shortest"
    turns: int = 1
    loop: bool = False
    fps: int = 30

    def __post_init__(self) -> None:
        for name, bounds in (
            ("frames_per_segment", (1, MAX_FRAMES_PER_SEGMENT)),
            ("turns", (-MAX_TURNS, MAX_TURNS)),
            ("fps", (1, 120)),
        ):
            problem = number_problem(getattr(self, name), bounds, integer=True)
            if problem:
                raise ValueError(f"{name.replace('_', ' ')} {problem}")
        checks = {
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}": self.interpolation
            in INTERPOLATIONS,
            f"yaw mode must be one of {', '.join(YAW_MODES)}, got {self.yaw_mode!r}": self.yaw_mode in YAW_MODES,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(failed[0])


@dataclass(frozen=True)
class PathFrame:
    """One frame of a path: head ws (1, num_ws, w_dim), background ws (1, Nb, w_dim) or None, camera."""

    ws: torch.Tensor
    background_ws: torch.Tensor | None
    camera: Camera


def frame_count(keyframes: list[Keyframe], settings: PathSettings) -> int:
    segments = len(keyframes) if settings.loop else len(keyframes) - 1
    return segments * settings.frames_per_segment + (0 if settings.loop else 1)


def check_keyframes(keyframes: list[Keyframe], settings: PathSettings) -> None:
    needed = 1 if settings.loop else 2
    if len(keyframes) < needed:
        raise ValueError(
            f"a path needs at least {needed} keyframe{'s' if needed > 1 else ''}"
            f"{'' if settings.loop else ' (or loop a single one)'}, got {len(keyframes)}"
        )


def yaw_delta(start: float, end: float, settings: PathSettings) -> float:
    """Degrees the camera turns from ``start`` to ``end`` yaw (degrees): the short way, plus any turns."""
    shortest = (end - start + 180.0) % 360.0 - 180.0
    return shortest + (360.0 * settings.turns if settings.yaw_mode == "turns" else 0.0)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, centre: torch.Tensor) -> torch.Tensor:
    """Rows of a, b (..., w_dim) interpolated by angle about ``centre`` (w_dim,), distance linearly.

    Falls back to linear interpolation where the angle is too small (or too close to 180 degrees)
    for a stable great circle.
    """
    a0, b0 = a - centre, b - centre
    na, nb = a0.norm(dim=-1, keepdim=True), b0.norm(dim=-1, keepdim=True)
    ua, ub = a0 / na.clamp_min(1e-12), b0 / nb.clamp_min(1e-12)
    omega = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0).acos()
    sin_omega = omega.sin()
    stable = sin_omega > 1e-4
    safe = torch.where(stable, sin_omega, torch.ones_like(sin_omega))
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / safe
    spherical = centre + direction * torch.lerp(na, nb, t)
    return torch.where(stable, spherical, torch.lerp(a, b, t))


def _blend(
    a: torch.Tensor | None, b: torch.Tensor | None, t: float, interpolation: str, centre: torch.Tensor
) -> torch.Tensor | None:
    if a is None or b is None or t == 0.0 or torch.equal(a, b):
        return a  # unchanged latents stay bit-identical, so a renderer can keep their tri-grid
    return slerp(a, b, t, centre) if interpolation == "slerp" else torch.lerp(a, b, t)


def _between(generator: PanoHeadGenerator, a: Camera, b: Camera, t: float, settings: PathSettings) -> Camera:
    """Camera a fraction ``t`` of the way from ``a`` to ``b`` (model defaults filled in for None fields)."""
    if t == 0.0:
        return a
    cfg = generator.config
    radius_a, radius_b = (cfg.camera_radius if c.radius is None else c.radius for c in (a, b))
    fov_a, fov_b = (fov_from_focal(cfg.focal) if c.fov is None else c.fov for c in (a, b))
    look_a, look_b = (tuple(cfg.look_at) if c.look_at is None else c.look_at for c in (a, b))
    yaw = (a.yaw + t * yaw_delta(a.yaw, b.yaw, settings)) % 360.0
    look_at = tuple(p + t * (q - p) for p, q in zip(look_a, look_b, strict=True))
    return Camera(
        yaw,
        a.pitch + t * (b.pitch - a.pitch),
        radius_a + t * (radius_b - radius_a),
        fov_a + t * (fov_b - fov_a),
        look_at,
    )


@torch.no_grad()
def path_frames(generator: PanoHeadGenerator, keyframes: list[Keyframe], settings: PathSettings) -> Iterator[PathFrame]:
    """Yield :func:`frame_count` frames; frame 0 is the first keyframe exactly, and so is every
    segment's first frame (and, without ``loop``, the last frame is the last keyframe)."""
    check_keyframes(keyframes, settings)
    composed = [compose(generator, keyframe.state) for keyframe in keyframes]
    stops = list(range(len(keyframes))) + ([0] if settings.loop else [])
    centre = generator.mapping_network.w_avg
    for start, end in pairwise(stops):
        (ws_a, bg_a), (ws_b, bg_b) = composed[start], composed[end]
        cam_a, cam_b = keyframes[start].state.camera, keyframes[end].state.camera
        for index in range(settings.frames_per_segment):
            t = index / settings.frames_per_segment
            yield PathFrame(
                _blend(ws_a, ws_b, t, settings.interpolation, centre),
                _blend(bg_a, bg_b, t, settings.interpolation, centre),
                _between(generator, cam_a, cam_b, t, settings),
            )
    if not settings.loop:
        ws, background = composed[-1]
        yield PathFrame(ws, background, keyframes[-1].state.camera)
