"""Inversion on a GPU: steps replayed from CUDA graphs follow the eager steps (skipped without CUDA)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from inversion_helpers import calibrated_tiny_generator, frontal_target

from panohead.inversion import InversionSettings, invert
from panohead.inversion.perceptual import StructuralLoss
from panohead.inversion.steps import CapturedStep

SETTINGS = InversionSettings(steps=8, pti_steps=6, pti_lr=3e-3, latent_samples=1000)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_without_cuda_a_captured_step_runs_eagerly_every_call():
    calls = []
    step = CapturedStep(lambda: calls.append("step"), lambda: calls.append("prepare"), torch.device("cpu"), graphs=True)
    for _ in range(5):
        step()
    assert calls == ["prepare", "step"] * 5 and not step.graphed and step.error is None


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("space, locality_every", [("z", 1), ("w+", 1), ("z", 2)])
def test_gpu_graphed_inversion_follows_the_eager_one(space, locality_every, caplog):
    """With the regulariser every 2nd step, PTI captures two graphs (10 steps: 3 eager warm-ups and
    then replays of each kind). Tolerances: grid_sample's backward adds atomically, so even two
    eager runs drift apart by a few 1e-4 over the PTI steps."""
    generator = copy.deepcopy(calibrated_tiny_generator()).cuda()
    portrait, _ = frontal_target()
    settings = SETTINGS.replace(space=space, locality_every=locality_every, pti_steps=6 if locality_every == 1 else 10)
    eager = invert(generator, portrait, settings.replace(cuda_graphs=False), StructuralLoss().cuda())
    with caplog.at_level(logging.WARNING):
        graphed = invert(generator, portrait, settings, StructuralLoss().cuda())
    assert "CUDA graph disabled" not in caplog.text
    for stage in ("latent", "pti"):
        np.testing.assert_allclose(graphed.history[stage], eager.history[stage], rtol=1e-2, atol=1e-4)
    assert torch.allclose(graphed.ws, eager.ws, atol=1e-3)


@pytest.mark.gpu
@needs_cuda
def test_gpu_tf32_inversion_still_improves():
    generator = copy.deepcopy(calibrated_tiny_generator()).cuda()
    portrait, _ = frontal_target()
    result = invert(generator, portrait, SETTINGS.replace(precision="tf32"), StructuralLoss().cuda())
    assert result.latent_loss < result.history["latent"][0] and result.pti_loss < result.latent_loss


@pytest.mark.gpu
@needs_cuda
def test_gpu_render_forward_and_backward_never_wait_for_the_host():
    """A host sync inside a step (e.g. torch.cumprod's backward asking whether a factor is zero)
    silently invalidates the CUDA graph capture of every inversion step."""
    from panohead.inversion.objective import render_view
    from panohead.views.camera import orbit_camera

    generator = copy.deepcopy(calibrated_tiny_generator()).cuda()
    label = orbit_camera(torch.zeros(1), device="cuda")
    with torch.no_grad():
        ws = generator.mapping(torch.randn(1, generator.config.z_dim, device="cuda"), label)
    ws.requires_grad_(True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        render_view(generator, ws, label).square().mean().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert ws.grad is not None and torch.isfinite(ws.grad).all()
