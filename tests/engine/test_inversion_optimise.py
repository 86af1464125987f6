"""Both inversion stages on a tiny generator inverting its own render (CPU, seconds)."""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest
import torch
from inversion_helpers import calibrated_tiny_generator, frontal_target, psnr, state_equal

from panohead.generator import seed_latent
from panohead.inversion import InversionSettings, invert
from panohead.inversion.inputs import target_tensor
from panohead.inversion.latent import noise_autocorrelation
from panohead.inversion.objective import Reconstruction, render_view
from panohead.inversion.perceptual import StructuralLoss
from panohead.inversion.progress import learning_rate
from panohead.latent_file import read_latent
from panohead.views.camera import orbit_camera

FAST = InversionSettings(steps=10, pti_steps=10, pti_lr=3e-3, latent_samples=1000, preview_every=5)


@pytest.fixture(scope="module")
def inverted():
    portrait, image = frontal_target()
    progress = []
    result = invert(calibrated_tiny_generator(), portrait, FAST, StructuralLoss(), progress.append)
    return result, image, progress


@pytest.mark.slow
def test_self_render_is_inverted_above_25_db_in_10_plus_10_steps(inverted):
    result, image, _ = inverted
    assert psnr(result.render(result.label), image) >= 25.0


def test_pivotal_tuning_lowers_the_loss_reached_by_latent_optimisation(inverted):
    result, image, _ = inverted
    assert result.pti_loss < 0.9 * result.latent_loss
    assert psnr(result.preview, image) > psnr(result.latent_preview, image)


def test_progress_reports_every_step_with_previews_at_the_requested_interval(inverted):
    _, _, progress = inverted
    assert [(p.stage, p.step) for p in progress] == [("latent", i) for i in range(1, 11)] + [
        ("pti", i) for i in range(1, 11)
    ]
    assert [p.step for p in progress if p.preview is not None] == [5, 10, 5, 10]
    assert progress[0].preview is None and progress[4].preview.shape == (32, 32, 3)
    assert {"loss", "l2", "perceptual", "noise_reg"} <= set(progress[0].losses)
    assert all(b.best <= a.best for a, b in pairwise(progress[:10]))


def test_inversion_leaves_the_callers_generator_untouched():
    generator = calibrated_tiny_generator()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    portrait, _ = frontal_target()
    invert(generator, portrait, FAST.replace(steps=2, pti_steps=2), StructuralLoss())
    assert state_equal(generator, before)


@pytest.mark.parametrize("stage_steps,stop_at", [((6, 0), ("latent", 3)), ((4, 6), ("pti", 3))])
@pytest.mark.slow
def test_cancel_stops_at_the_next_step_and_keeps_the_best_result(stage_steps, stop_at):
    portrait, _ = frontal_target()
    cancel = threading.Event()
    seen = []

    def callback(progress):
        seen.append(progress)
        if (progress.stage, progress.step) == stop_at:
            cancel.set()

    settings = FAST.replace(steps=stage_steps[0], pti_steps=stage_steps[1])
    result = invert(calibrated_tiny_generator(), portrait, settings, StructuralLoss(), callback, cancel)
    assert result.cancelled
    assert (seen[-1].stage, seen[-1].step) == stop_at
    history = result.history[stop_at[0]]
    assert len(history) == 3
    kept = result.latent_loss if stop_at[0] == "latent" else result.pti_loss
    assert kept == min(history)
    # The returned generator and latent really render the kept loss.
    objective = Reconstruction(target_tensor(portrait.crop, 32), StructuralLoss())
    assert float(objective(result.render(result.label))[0]) == pytest.approx(result.loss, rel=1e-4)


@pytest.mark.parametrize("space,shape", [("z", (1, 32)), ("w", None), ("w+", None)])
@pytest.mark.slow
def test_each_latent_space_improves_on_its_first_step_and_saves_ws(space, shape, tmp_path):
    portrait, _ = frontal_target()
    result = invert(calibrated_tiny_generator(), portrait, FAST.replace(space=space, pti_steps=0), StructuralLoss())
    assert result.latent_loss < result.history["latent"][0]
    assert result.pti_loss is None
    assert result.ws.shape == (1, calibrated_tiny_generator().num_ws, 32)
    path = tmp_path / "latent.npz"
    result.save_latent(path, source="face.png")
    latent = read_latent(path)
    assert np.array_equal(latent["ws"], result.ws.numpy()) and str(latent["space"]) == space
    assert str(latent["source"]) == "face.png" and float(latent["latent_loss"]) == result.latent_loss
    assert np.isnan(latent["pti_loss"]) and ("z" in latent) == (shape is not None)


def test_learning_rate_warms_up_holds_then_ramps_down_to_zero():
    rates = [learning_rate(step, 200, 0.1, rampup=0.05, rampdown=0.25) for step in range(200)]
    assert rates[0] == pytest.approx(0.01)
    assert rates[9] == rates[100] == pytest.approx(0.1)
    assert rates[175] == pytest.approx(0.05)
    assert rates[199] < 0.0001


def test_noise_regulariser_penalises_smooth_maps_not_white_noise():
    white = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(white[None, None], 5, 1, 2)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert float(noise_autocorrelation([white])) < 0.01
    assert float(noise_autocorrelation([smooth])) > 1.0


def test_locality_regulariser_keeps_other_heads_closer_to_the_original_generator():
    """Aggressive tuning (lr 0.02) with and without the regulariser; a random head's back view drifts less with it."""
    generator = calibrated_tiny_generator()
    portrait, _ = frontal_target()
    other = generator.mapping(seed_latent(99, 32), orbit_camera(0.0))
    back = orbit_camera(180.0)
    original = render_view(generator, other, back)
    drift = {}
    for weight in (0.0, 1.0):
        settings = FAST.replace(steps=3, pti_steps=12, pti_lr=0.02, locality_weight=weight, locality_distance=0.5)
        tuned = invert(generator, portrait, settings, StructuralLoss()).generator
        with torch.no_grad():
            drift[weight] = float((render_view(tuned, other, back) - original).square().mean())
    assert drift[1.0] < 0.7 * drift[0.0]
