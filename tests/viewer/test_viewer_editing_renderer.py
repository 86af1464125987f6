"""The viewer's side of editing without a window: edits in requests render as the engine composes them."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from panohead.checkpoint import save_generator
from panohead.editing import Direction, EditState, Latent, Mixing, compose, latent_ws
from panohead.editing.directions import with_amount
from panohead.editing.state import FOLLOW_CAMERA
from tests.conftest import make_tiny_generator
from viz.async_renderer import AsyncRenderer
from viz.renderer import Renderer
from viz.request import build_request
from viz.state import AppState


@pytest.fixture
def state(tmp_path) -> AppState:
    path = tmp_path / "tiny.safetensors"
    save_generator(path, make_tiny_generator())
    state = AppState()
    state.model.source = str(path)
    state.edit = state.edit.replace(latent=Latent.from_seed(3), psi=0.6, background=Latent.from_seed(4))
    return state


def edits(state: EditState, w_dim: int = 32) -> EditState:
    vector = torch.randn(w_dim, generator=torch.Generator().manual_seed(1))
    direction = Direction.of("test", vector / vector.norm())
    return state.replace(mixing=Mixing(Latent.from_seed(6), (1, 4), (0, 3)), directions=with_amount((), direction, 1.5))


def test_the_viewers_edited_ws_are_the_engines_for_the_same_state(state):
    renderer = Renderer()
    plain = renderer(build_request(state, "cpu"))
    state.edit = edits(state.edit)
    request = build_request(state, "cpu")
    result = renderer(request)
    assert result.error is None, result.error
    generator, _ = renderer.model(request.source, "cpu")
    ws, background_ws = compose(generator, request.edit)
    assert np.array_equal(result.ws, ws[0].numpy()) and np.array_equal(result.background_ws, background_ws[0].numpy())
    assert not np.array_equal(plain.ws, result.ws)


@pytest.mark.parametrize(
    "changes",
    [
        {"latent": Latent.blended(3, 9, 0.3)},
        {"latent": Latent.from_z(torch.randn(32, generator=torch.Generator().manual_seed(2)), "z.npz")},
        {"conditioning": FOLLOW_CAMERA},
        {"conditioning": (20.0, -5.0)},
    ],
    ids=["blend", "z", "follow", "custom"],
)
def test_every_kind_of_head_renders_the_ws_the_engine_composes(state, changes):
    state.edit = edits(state.edit).replace(**changes).with_camera(yaw=30.0, radius=2.9)
    renderer = Renderer()
    request = build_request(state, "cpu")
    result = renderer(request)
    assert result.error is None, result.error
    generator, _ = renderer.model(request.source, "cpu")
    assert np.array_equal(result.ws, compose(generator, request.edit)[0][0].numpy())


def test_a_blend_interpolates_the_two_seeds_truncated_ws(state):
    renderer = Renderer()
    generator, _ = renderer.model(state.model.source, "cpu")
    frontal = state.edit.conditioning_label(generator)
    ws_a, ws_b = (latent_ws(generator, Latent.from_seed(seed), frontal, 0.6) for seed in (3, 9))
    blended = latent_ws(generator, Latent.blended(3, 9, 0.3), frontal, 0.6)
    assert torch.equal(blended, torch.lerp(ws_a, ws_b, 0.3))
    assert Latent.blended(3, 9, 0.0) == Latent.from_seed(3)


def test_explicit_head_ws_replace_the_seed_and_mixing_only_the_background_keeps_the_head(state):
    renderer = Renderer()
    seed_ws = renderer(build_request(state, "cpu")).ws
    state.edit = state.edit.replace(latent=Latent.from_ws(seed_ws, "photo"))
    shown = renderer(build_request(state, "cpu"))
    assert np.array_equal(shown.ws, seed_ws)
    state.edit = state.edit.replace(mixing=Mixing(Latent.from_seed(6), (0, 0), (0, 6)))
    mixed = renderer(build_request(state, "cpu"))
    assert np.array_equal(mixed.ws, seed_ws) and not np.array_equal(mixed.image, shown.image)


def test_render_thread_tasks_run_before_the_live_view_and_survive_failures(state):
    renderer = AsyncRenderer(Renderer())
    ran = threading.Event()
    try:
        renderer.submit_task(lambda: 1 / 0)
        renderer.submit_task(ran.set)
        assert ran.wait(30)
        renderer.submit(build_request(state, "cpu"))
        for _ in range(3000):
            result = renderer.take_result()
            if result is not None:
                break
            threading.Event().wait(0.01)
        assert result is not None and result.error is None
    finally:
        renderer.stop()


def test_a_direction_edit_resynthesises_the_head_and_reuses_its_background(state):
    state.edit = state.edit.replace(background=None)
    renderer = Renderer()
    before = renderer(build_request(state, "cpu"))
    state.edit = edits(state.edit).replace(mixing=Mixing())
    moved = renderer(build_request(state, "cpu"))
    assert moved.error is None and "tri-grid" in moved.timings and "background" not in moved.timings
    assert not np.array_equal(moved.ws, before.ws) and np.array_equal(moved.background_ws, before.background_ws)
