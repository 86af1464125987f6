"""The viewer's CUDA-graph setting (the stages of panohead.fast.FastRenderer): plumbed from the state,
eager and unchanged on a CPU, and on a GPU the same frames as eager rendering, following the camera."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panohead.fast import FastRenderer
from panohead.graphs import GraphedCall
from panohead.precision import Precision
from panohead.views.camera import orbit_camera
from panohead.views.stages import compose_image, march_volume
from tests.conftest import make_tiny_generator
from viz.renderer import Renderer
from viz.request import build_request
from viz.state import AppState


def tiny_state(precision: str = "fp32", graphs: bool = True) -> AppState:
    state = AppState()
    state.model.source = "random:tiny"
    state.model.precision = precision
    state.model.cuda_graphs = graphs
    return state


def test_graphs_are_on_by_default_and_travel_in_the_request():
    state = AppState()
    assert state.model.cuda_graphs is True and state.model.precision == "fp16"
    assert build_request(state, "cpu").cuda_graphs is True
    state.model.cuda_graphs = False
    assert build_request(state, "cpu").cuda_graphs is False
    assert AppState.from_dict(state.to_dict()).model.cuda_graphs is False


def test_cpu_renders_ignore_the_graph_setting_and_stay_identical():
    with_graphs, without = Renderer(), Renderer()
    for yaw in (0.0, 50.0):
        states = tiny_state(graphs=True), tiny_state(graphs=False)
        for state in states:
            state.edit = state.edit.with_camera(yaw=yaw)
        a, b = with_graphs(build_request(states[0], "cpu")), without(build_request(states[1], "cpu"))
        assert a.error is None and b.error is None
        assert np.array_equal(a.image, b.image)
        assert not a.graphs and a.graph_error is None
    assert with_graphs.fast.graphs == {}


def test_the_stage_functions_give_the_generators_own_render_bit_for_bit():
    G = make_tiny_generator()
    label = orbit_camera(torch.full((1,), 34.0))
    with torch.inference_mode():
        ws = G.mapping(torch.randn(1, G.config.z_dim, generator=torch.Generator().manual_seed(1)), label, psi=0.7)
        planes, background = G.synthesize_planes(ws), G.synthesize_background(ws)
        reference = G.render(planes, ws, label, background=background)
        volume = march_volume(G, planes, ws, label, G.config.neural_resolution)
        images = compose_image(G, volume["foreground"], volume["weight_sum"], background, ws)
    assert torch.equal(volume["weight_sum"], reference["weight_sum"])
    assert torch.equal(images["raw"], reference["image_raw"][0])
    assert torch.equal(images["image"], reference["image"][0])


def test_stage_graphs_on_cpu_tensors_fall_back_to_the_eager_stages_and_say_why():
    G = make_tiny_generator()
    label = orbit_camera(torch.zeros(1))
    fast = FastRenderer(G)
    fast.graphs["render"] = GraphedCall(fast._march_eager)  # what cuda_graph=True builds on a GPU
    with torch.inference_mode():
        ws = G.mapping(torch.randn(1, G.config.z_dim), label)
        planes = G.synthesize_planes(ws)
        volume = fast.march(planes, ws, label, neural=16)
        expected = march_volume(G, planes, ws, label, 16)
    assert all(torch.equal(volume[name], expected[name]) for name in expected)
    assert fast.graph_error.startswith("render: RuntimeError: CUDA graphs need CUDA tensors")
    assert not fast.replaying


def test_the_renderer_keeps_one_staged_renderer_per_precision_and_clearing_drops_it():
    renderer = Renderer()
    fp16 = tiny_state("fp16")
    assert renderer(build_request(fp16, "cpu")).error is None
    first = renderer.fast
    assert first.precision == Precision() and first.skip_empty  # a CPU: fp32 whatever is chosen, skipping
    assert renderer(build_request(tiny_state("tf32"), "cpu")).error is None
    assert renderer.fast is first
    renderer.clear()
    assert renderer.fast is None


# --- GPU ---------------------------------------------------------------------------------------------
def last_image(renderer: Renderer) -> torch.Tensor:
    """The float image (3, R, R) in [-1, 1] of the renderer's most recent composite."""
    return next(reversed(renderer.composites.items.values()))["image"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_graphed_orbit_frames_equal_eager_ones_and_follow_the_camera():
    graphed, eager = Renderer(), Renderer()
    previous = None
    for yaw in (0.0, 35.0, 200.0):
        images = []
        for renderer, on in ((graphed, True), (eager, False)):
            state = tiny_state("fp32", graphs=on)
            state.edit = state.edit.with_camera(yaw=yaw)
            result = renderer(build_request(state, "cuda"))
            assert result.error is None, result.error
            assert result.graph_error is None
            images.append(last_image(renderer))
        assert graphed.fast.replaying
        assert (images[0] - images[1]).abs().max() < 1e-3, yaw
        if previous is not None:  # a replay must not hand back the previous camera's image
            assert (images[0] - previous).abs().max() > 0.05
        previous = images[0]
    assert graphed.fast.graphs["render"].captured == 1  # one capture served every camera


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_graphed_fp16_frames_stay_within_0_1_of_fp32_and_views_share_the_volume_graph():
    graphed = Renderer()
    state = tiny_state("fp16")
    state.edit = state.edit.with_camera(yaw=20.0)
    assert graphed(build_request(state, "cuda")).graphs
    fp16 = last_image(graphed)
    state.view.mode = "foreground"  # another compose graph, same volume
    result = graphed(build_request(state, "cuda"))
    assert result.graphs and result.graph_error is None
    reference = Renderer()
    state32 = tiny_state("fp32", graphs=False)
    state32.edit = state32.edit.with_camera(yaw=20.0)
    reference(build_request(state32, "cuda"))
    assert (fp16 - last_image(reference)).abs().max() < 0.1
    assert graphed.fast.graphs["super-resolution"].captured == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_model_change_releases_the_graphs():
    renderer = Renderer()
    state = tiny_state("fp32")
    assert renderer(build_request(state, "cuda")).graphs
    first = renderer.fast
    state.model.source = "random:small"
    result = renderer(build_request(state, "cuda"))
    assert result.error is None and result.graphs
    assert renderer.fast is not first and not first.replaying
