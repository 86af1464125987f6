"""Each fast rendering path (panohead.fast) against the plain fp32 eager reference path."""
from __future__ import annotations

import math

import pytest
import torch

from panohead.bundled import BUNDLED_CHECKPOINT
from panohead.camera import orbit_label
from panohead.checkpoint import load_generator
from panohead.config import preset
from panohead.fast import FastRenderer, GraphedCall, autocast
from panohead.generator import PanoHeadGenerator


def tiny_head(device="cpu"):
    torch.manual_seed(0)
    G = PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False).to(device)
    label = orbit_label(torch.zeros(1), device=device)
    side = orbit_label(torch.full((1,), math.pi / 3), device=device)
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
    with pytest.raises(ValueError, match="'fp8' is not one of fp32, bf16, fp16"):
        autocast("fp8", "cpu")


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.is_file(), reason="no bundled checkpoint in this checkout")
def test_empty_space_skipping_evaluates_under_half_the_box_and_matches_to_1e_4():
    G = load_generator(BUNDLED_CHECKPOINT, "cpu").eval().requires_grad_(False)
    label = orbit_label(torch.zeros(1))
    side = orbit_label(torch.full((1,), 2.5))  # from behind: hair, then empty space
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
        label = orbit_label(torch.zeros(1))
        new_seed = fast.synthesize(z, label, side, psi=0.7)
        ws_new = G.mapping(z, label, psi=0.7)
        expected = G.render(G.synthesize_planes(ws_new), ws_new, side, background=G.synthesize_background(ws_new))
    assert fast.graph is None and fast.graph_error is None
    assert torch.equal(image, reference["image"])
    assert torch.equal(new_seed, expected["image"])


def test_graph_capture_failure_falls_back_to_the_function_and_says_why():
    graphed = GraphedCall(lambda x: x * 2)
    x = torch.ones(3)
    assert torch.equal(graphed(x), x * 2)  # CPU input: no graph, the eager result comes back (with or without CUDA)
    assert graphed.error
    assert torch.equal(graphed(x + 1), (x + 1) * 2)


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
    label = orbit_label(torch.zeros(1), device="cuda")
    with torch.inference_mode():
        for seed in (1, 2):
            z = torch.randn(1, G.config.z_dim, device="cuda", generator=torch.Generator("cuda").manual_seed(seed))
            graphed = fast.synthesize(z, label, side, psi=0.7)
            assert (graphed - eager.synthesize(z, label, side, psi=0.7)).abs().max() < 1e-3
    assert fast.graph_error is None
