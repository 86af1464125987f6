"""The viewer's state: the head is one engine EditState, and files written before that still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from panohead.editing import Camera, EditState, Latent, Mixing, read_session
from panohead.editing.session import state_from_json, state_to_json
from panohead.editing.state import FOLLOW_CAMERA
from viz.state import AppState, upgrade_settings

DATA = Path(__file__).parent / "data"


def test_settings_written_before_the_head_was_an_edit_state_load_entry_by_entry():
    """viewer.json as the viewer wrote it before (sections latent, camera, conditioning; background seed)."""
    problems: list[str] = []
    state = AppState.from_dict(json.loads((DATA / "viewer_settings_before_edit_state.json").read_text()), problems)
    assert problems == []
    assert state.edit == EditState(
        latent=Latent.blended(12, 4, 0.25),
        psi=0.5,
        cutoff=6,
        conditioning=(15.0, 5.0),
        background=Latent.from_seed(9),
        camera=Camera(200.0, -10.0, 3.1, 20.0, (0.0, 0.0, 0.2)),
    )
    assert (state.view.turntable, state.view.turntable_speed, state.background.mode) == (True, 45.0, "model")
    assert state.training.preset == "small"  # the sections that did not change are read as before


def test_an_old_settings_file_with_a_latent_file_or_follow_conditioning_says_what_it_dropped():
    problems: list[str] = []
    old = {"latent": {"file": "head.npz", "seed": "x"}, "conditioning": {"mode": "follow"}}
    state = AppState.from_dict(old, problems)
    assert state.edit.conditioning == FOLLOW_CAMERA and state.edit.latent == Latent.from_seed(0)
    assert problems == [
        "latent.seed (invalid literal for int() with base 10: 'x')",
        "latent.file (open head.npz again in the Latent panel)",
    ]


def test_every_kind_of_head_round_trips_through_the_settings_file_exactly():
    ws = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    for latent in (Latent.blended(3, 9, 0.3), Latent.from_z(ws[0], "z.npz"), Latent.from_ws(ws, "photo")):
        state = AppState()
        state.edit = state.edit.replace(
            latent=latent, conditioning=FOLLOW_CAMERA, mixing=Mixing(Latent.from_seed(6), (1, 3), (0, 2))
        )
        state.edit = state.edit.with_camera(yaw=33.25)
        problems: list[str] = []
        assert AppState.from_dict(json.loads(json.dumps(state.to_dict())), problems) == state and problems == []
        assert state_from_json(json.loads(json.dumps(state_to_json(state.edit)))) == state.edit


def test_a_session_written_before_reads_and_its_view_settings_are_upgraded():
    session = read_session(DATA / "session_before_edit_state.json")
    assert session.state.latent.name == "seeds 3 and 9 blended" and session.state.latent.ws.shape == (6, 4)
    assert session.state.mixing == Mixing(Latent.from_seed(6), (1, 3), (0, 2))
    assert session.keyframes[0].state.camera.yaw == 90.0
    view = upgrade_settings(session.view, [])
    assert view["background"]["mode"] == "model" and view["view"]["turntable"] is True
    assert view["edit"]["conditioning"] == FOLLOW_CAMERA  # superseded by the session's own state when opened
