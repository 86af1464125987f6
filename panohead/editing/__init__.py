"""Editing heads (engine side, no display): style mixing, latent directions, keyframes, undo, sessions.

state = EditState(latent=Latent.from_seed(3))
state = state.replace(mixing=Mixing(Latent.from_seed(8), group_range(G.synthesis, "fine")))
pca, _ = cached_principal_directions(G)
state = state.with_direction(pca.top(8)[0], 1.5)
image = render_state(G, state)["image"]
"""

from panohead.editing.directions import Direction, DirectionEdit, apply_directions, load_directions, save_directions
from panohead.editing.history import History
from panohead.editing.keyframes import Keyframe, PathFrame, PathSettings, frame_count, path_frames
from panohead.editing.latents import FloatArray, Latent, latent_ws
from panohead.editing.mixing import GROUPS, group_range, layer_groups, mix_ws, w_resolutions
from panohead.editing.pca import PrincipalDirections, cached_principal_directions, principal_directions, sample_w
from panohead.editing.session import (
    ModelReference,
    Session,
    SessionError,
    open_session,
    read_session,
    recent_sessions,
    save_session,
)
from panohead.editing.state import Camera, EditState, Mixing, apply_edits, compose, render_state

__all__ = [
    "Camera",
    "Direction",
    "DirectionEdit",
    "EditState",
    "FloatArray",
    "GROUPS",
    "History",
    "Keyframe",
    "Latent",
    "Mixing",
    "ModelReference",
    "PathFrame",
    "PathSettings",
    "PrincipalDirections",
    "Session",
    "SessionError",
    "apply_directions",
    "apply_edits",
    "cached_principal_directions",
    "compose",
    "frame_count",
    "group_range",
    "latent_ws",
    "layer_groups",
    "load_directions",
    "mix_ws",
    "open_session",
    "path_frames",
    "principal_directions",
    "read_session",
    "recent_sessions",
    "render_state",
    "sample_w",
    "save_directions",
    "save_session",
    "w_resolutions",
]
