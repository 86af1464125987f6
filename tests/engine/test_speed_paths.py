"""Each fast rendering path (panohead.fast) against the plain fp32 eager reference path, and the one
precision vocabulary (panohead.precision) those paths run under."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from panohead.bundled import BUNDLED_CHECKPOINT
from panohead.checkpoint import load_generator
from panohead.config import preset
from panohead.fast import FastRenderer
from panohead.generator import PanoHeadGenerator
from panohead.graphs import GraphedCall
from panohead.inversion.steps import CapturedStep
from panohead.precision import OPTIMISATION, Precision
from panohead.views.camera import orbit_camera
from tests.conftest import make_tiny_generator


def tiny_head(device="cpu"):
    torch.manual_seed(0)
    G = PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False).to(device)
    label = orbit_camera(torch.zeros(1), device=device)
    side = orbit_camera(torch.full((1,), 60.0), device=device)
    with torch.inference_mode():
        ws = G.mapping(torch.randn(1, G.config.z_dim, device=device), label, psi=0.7)
        planes, background = G.synthesize_planes(ws), G.synthesize_background(ws)
        reference = G.render(planes, ws, side, background=background)
    return G, ws, planes, background, side, reference


def test_fp32_fast_renderer_gives_the_reference_images_bit_for_bit():
    G, ws, planes, background, side, reference = tiny_head()
    with torch.inference_mode():
        out = FastRenderer(G).render(planes, ws, side, background)
    for key in ("image", "image_raw", "mask", "depth"):
        assert torch.equal(out[key], reference[key]), key


def test_bf16_super_resolution_and_trigrid_stay_within_0_1_of_fp32():
    G, ws, planes, background, side, reference = tiny_head()
    with torch.inference_mode():
        fast = FastRenderer(G, precision="bf16", trigrid_precision="bf16")
        out = fast.render(fast.planes(ws), ws, side, fast.background(ws))
    assert out["image"].dtype == torch.float32
    assert (out["image"] - reference["image"]).abs().max() < 0.1
    assert (out["mask_raw"] - reference["mask_raw"]).abs().max() < 0.02


def test_bf16_super_resolution_alone_leaves_the_mask_untouched():
    G, ws, planes, background, side, reference = tiny_head()
    with torch.inference_mode():
        out = FastRenderer(G, precision="bf16").render(planes, ws, side, background)
    assert torch.equal(out["mask_raw"], reference["mask_raw"])
    assert 0 < (out["image"] - reference["image"]).abs().max() < 0.1


def test_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="'fp8' is not one of fp32, tf32, bf16, fp16, tf32\\+bf16, tf32\\+fp16"):
        FastRenderer(make_tiny_generator(), precision="fp8")
    with pytest.raises(ValueError, match="'bf16' is not one of fp32, tf32$"):
        Precision.parse("bf16", OPTIMISATION)


@pytest.mark.parametrize("name", ["fp32", "tf32", "bf16", "fp16", "tf32+bf16", "tf32+fp16"])
def test_every_precision_name_parses_to_a_value_named_the_same(name):
    precision = Precision.parse(name)
    assert precision.name == name and Precision.parse(precision) == precision
    assert precision.float32 == Precision(tf32=precision.tf32)


def test_a_scope_restores_the_tf32_flags_and_runs_autocast_only_for_half_precisions():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    x = torch.ones(2, 2)
    with Precision.parse("tf32+bf16").scope("cpu"):
        assert (x @ x).dtype == torch.bfloat16
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved  # no TF32 on a CPU
        with Precision().scope("cpu"):
            assert (x @ x).dtype == torch.float32  # float32 inside an outer autocast
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved


@pytest.mark.parametrize("before", [False, True])
def test_an_inversion_step_runs_with_cudnn_autotuning_and_restores_the_flag_even_after_an_error(before):
    seen = []

    def step() -> None:
        seen.append(torch.backends.cudnn.benchmark)
        if len(seen) == 2:
            raise RuntimeError("inside")

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before
    try:
        run = CapturedStep(step, lambda: None, torch.device("cpu"), graphs=False)
        run()
        assert torch.backends.cudnn.benchmark is before
        with pytest.raises(RuntimeError):
            run()
        assert torch.backends.cudnn.benchmark is before and seen == [True, True]
    finally:
        torch.backends.cudnn.benchmark = saved


def test_a_cuda_scope_sets_the_tf32_flags_and_restores_them_after_an_error():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with pytest.raises(RuntimeError), Precision.parse("tf32").scope("cuda"):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        raise RuntimeError("inside")
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved
    with Precision.parse("fp32").scope("cuda"):  # the exact path: TF32 off, whatever the defaults
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="no bundled checkpoint in this checkout")
def test_empty_space_skipping_evaluates_under_half_the_box_and_matches_to_1e_4():
    G = load_generator(BUNDLED_CHECKPOINT, "cpu").eval().requires_grad_(False)
    label = orbit_camera(torch.zeros(1))
    side = orbit_camera(torch.full((1,), 143.0))  # from behind: hair, then empty space
    with torch.inference_mode():
        ws = G.mapping(torch.randn(1, G.config.z_dim, generator=torch.Generator().manual_seed(3)), label, psi=0.7)
        planes = G.synthesize_planes(ws)
        background = torch.zeros(1, G.config.plane_channels, 1, 1)
        reference = G.render(planes, ws, side, background=background, neural_resolution=24, superresolve=False)
        fast = FastRenderer(G, skip_empty=True)
        out = fast.render(planes, ws, side, background, neural_resolution=24, superresolve=False)
    assert fast.occupancy(planes).fraction < 0.5
    for key in ("image_raw", "weight_sum"):
        assert (out[key] - reference[key]).abs().max() < 1e-4, key


def test_skipping_with_nothing_empty_changes_nothing():
    G, ws, planes, background, side, reference = tiny_head()
    with torch.inference_mode():
        out = FastRenderer(G, skip_empty=True, occupancy_threshold=0.0).render(planes, ws, side, background)
    assert torch.equal(out["image"], reference["image"])


def test_cuda_graph_request_on_cpu_renders_eagerly():
    G, ws, planes, background, side, reference = tiny_head()
    fast = FastRenderer(G, cuda_graph=True)
    with torch.inference_mode():
        image = fast.orbit(planes, ws, side, background)
        z = torch.randn(1, G.config.z_dim)
        label = orbit_camera(torch.zeros(1))
        new_seed = fast.synthesize(z, label, side, psi=0.7)
        ws_new = G.mapping(z, label, psi=0.7)
        expected = G.render(G.synthesize_planes(ws_new), ws_new, side, background=G.synthesize_background(ws_new))
    assert fast.graphs == {} and fast.graph_error is None
    assert torch.equal(image, reference["image"])
    assert torch.equal(new_seed, expected["image"])


def test_graph_capture_failure_falls_back_to_the_function_and_says_why():
    graphed = GraphedCall(lambda x: x * 2)
    x = torch.ones(3)
    assert torch.equal(graphed(x), x * 2)  # CPU input: no graph, the eager result comes back (with or without CUDA)
    assert graphed.error
    assert torch.equal(graphed(x + 1), (x + 1) * 2)


def test_a_renderer_holding_a_graph_of_its_own_method_is_freed_without_the_cyclic_gc():
    G, ws, planes, background, side, reference = tiny_head()
    fast = FastRenderer(G)
    fast.graphs["orbit"] = GraphedCall(fast._orbit_eager)  # what cuda_graph=True builds on a GPU
    alive = weakref.ref(fast)
    gc.disable()
    try:
        del fast
        assert alive() is None
    finally:
        gc.enable()


def test_graphed_call_returns_dicts_and_tuples_on_the_eager_fallback():
    graphed = GraphedCall(lambda x, scale: {"a": x * scale, "b": (x + 1, None)})
    out = graphed(torch.ones(2), scale=3.0)
    assert torch.equal(out["a"], torch.full((2,), 3.0)) and torch.equal(out["b"][0], torch.full((2,), 2.0))
    assert out["b"][1] is None and graphed.captured == 0


def test_release_clears_graphs_and_occupancy_and_the_renderer_still_renders():
    G, ws, planes, background, side, reference = tiny_head()
    fast = FastRenderer(G, skip_empty=True, occupancy_threshold=0.0)
    with torch.inference_mode():
        fast.occupancy(planes)
        fast.release()
        assert not fast.holds_occupancy(planes)
        assert torch.equal(fast.orbit(planes, ws, side, background), reference["image"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_graphed_call_replays_tuples_and_dicts_with_fresh_outputs():
    graphed = GraphedCall(lambda x, scale: {"double": x * scale, "pair": (x + 1, None)}, capacity=2)
    with torch.inference_mode():
        first = graphed(torch.ones(4, device="cuda"), scale=2.0)
        second = graphed(torch.full((4,), 5.0, device="cuda"), scale=2.0)
        other_shape = graphed(torch.ones(3, device="cuda"), scale=2.0)
    assert graphed.error is None and graphed.captured == 2
    assert torch.equal(first["double"], torch.full((4,), 2.0, device="cuda"))  # not overwritten by the replay
    assert torch.equal(second["double"], torch.full((4,), 10.0, device="cuda"))
    assert torch.equal(second["pair"][0], torch.full((4,), 6.0, device="cuda")) and second["pair"][1] is None
    assert other_shape["double"].shape == (3,)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_released_renderers_leave_reserved_memory_flat():
    G, ws, planes, background, side, reference = tiny_head("cuda")
    reserved = []
    with torch.inference_mode():
        for _ in range(4):
            fast = FastRenderer(G, precision="fp16", cuda_graph=True)
            fast.orbit(planes, ws, side, background)
            assert fast.graph_error is None and fast.graphs["orbit"].captured == 1
            fast.release()
            del fast
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            reserved.append(torch.cuda.memory_reserved())
    assert max(reserved[1:]) <= reserved[0] + 4 * 2**20, [r / 2**20 for r in reserved]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_dropped_renderer_frees_its_graphs_without_the_cyclic_gc():
    G, ws, planes, background, side, reference = tiny_head("cuda")
    reserved = []
    gc.disable()
    try:
        with torch.inference_mode():
            for _ in range(3):
                fast = FastRenderer(G, precision="fp16", cuda_graph=True)
                fast.orbit(planes, ws, side, background)
                assert fast.graph_error is None
                del fast  # no release(): reference counting alone must free the graph
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                reserved.append(torch.cuda.memory_reserved())
    finally:
        gc.enable()
    assert max(reserved[1:]) <= reserved[0] + 4 * 2**20, [r / 2**20 for r in reserved]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_fp16_graph_orbit_matches_fp32_eager_within_0_1():
    G, ws, planes, background, side, reference = tiny_head("cuda")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    fast = FastRenderer(G, precision="fp16", cuda_graph=True)
    with torch.inference_mode():
        first = fast.orbit(planes, ws, side, background)
        second = fast.orbit(planes, ws, side.clone(), background)
        eager = FastRenderer(G, precision="fp16").render(planes, ws, side, background)["image"]
    assert fast.graph_error is None
    assert torch.equal(first, second)
    assert (first - eager).abs().max() < 1e-3
    assert (first - reference["image"]).abs().max() < 0.1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_graphed_new_seed_follows_its_input_z():
    G, ws, planes, background, side, reference = tiny_head("cuda")
    fast = FastRenderer(G, precision="fp16", cuda_graph=True)
    eager = FastRenderer(G, precision="fp16")
    label = orbit_camera(torch.zeros(1), device="cuda")
    with torch.inference_mode():
        for seed in (1, 2):
            z = torch.randn(1, G.config.z_dim, device="cuda", generator=torch.Generator("cuda").manual_seed(seed))
            graphed = fast.synthesize(z, label, side, psi=0.7)
            assert (graphed - eager.synthesize(z, label, side, psi=0.7)).abs().max() < 1e-3
    assert fast.graph_error is None
