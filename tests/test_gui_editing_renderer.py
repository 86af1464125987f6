"""The viewer's side of editing without a window: edits in requests render as the engine composes them."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from panohead.checkpoint import save_generator
from panohead.editing import Direction, Latent, Mixing, compose
from panohead.editing.directions import with_amount
from tests.conftest import make_tiny_generator
from viz.async_renderer import AsyncRenderer
from viz.renderer import Renderer
from viz.request import Edits, build_request
from viz.state import AppState


@pytest.fixture
def state(tmp_path) -> AppState:
    path = tmp_path / "tiny.safetensors"
    save_generator(path, make_tiny_generator())
    state = AppState()
    state.model.source = str(path)
    state.latent.seed, state.latent.psi = 3, 0.6
    state.background.mode, state.background.seed = "seed", 4
    return state


def edits(w_dim: int = 32) -> Edits:
    vector = torch.randn(w_dim, generator=torch.Generator().manual_seed(1))
    direction = Direction.of("test", vector / vector.norm())
    return Edits(mixing=Mixing(Latent.from_seed(6), (1, 4), (0, 3)), directions=with_amount((), direction, 1.5))


def test_the_viewers_edited_ws_are_the_engines_for_the_same_state(state):
    renderer = Renderer()
    request = build_request(state, "cpu", edits())
    result = renderer(request)
    assert result.error is None, result.error
    engine_state, generator = renderer.edit_state(request)
    assert engine_state.latent == Latent.from_seed(3) and engine_state.background == Latent.from_seed(4)
    assert engine_state.psi == 0.6 and engine_state.mixing == edits().mixing
    ws, _ = compose(generator, engine_state)
    assert np.array_equal(result.ws, ws[0].numpy())
    plain = renderer(build_request(state, "cpu"))
    assert not np.array_equal(plain.ws, result.ws)


def test_a_blend_becomes_the_exact_ws_the_viewer_renders(state):
    state.latent.seed_b, state.latent.blend = 9, 0.3
    renderer = Renderer()
    request = build_request(state, "cpu", edits())
    result = renderer(request)
    engine_state, generator = renderer.edit_state(request)
    assert engine_state.latent.ws is not None and engine_state.latent.name == "seeds 3 and 9 blended"
    assert np.array_equal(result.ws, compose(generator, engine_state)[0][0].numpy())


def test_explicit_head_ws_replace_the_seed_and_mixing_only_the_background_keeps_the_head(state):
    renderer = Renderer()
    seed_ws = renderer(build_request(state, "cpu")).ws
    explicit = Edits(latent=Latent.from_ws(seed_ws, "photo"))
    state.latent.seed = 11
    shown = renderer(build_request(state, "cpu", explicit))
    assert np.array_equal(shown.ws, seed_ws)
    background_only = Edits(latent=explicit.latent, mixing=Mixing(Latent.from_seed(6), (0, 0), (0, 6)))
    mixed = renderer(build_request(state, "cpu", background_only))
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
