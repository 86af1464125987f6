"""panohead.metrics.diversity: head and background spread kept apart (issue 19's one head in many backgrounds)."""

from __future__ import annotations

import math

import pytest
import torch

from bench.diversity import model_row
from panohead.data.synth import SynthSettings, synthesize
from panohead.metrics.diversity import spread
from panohead.model_source import untrained_generator


def disc_batch(head_values: list[float], background_values: list[float], size: int = 16):
    """Images with a centred square "head" of one grey per sample on a grey background per sample."""
    masks = torch.zeros(len(head_values), 1, size, size)
    masks[:, :, 4:12, 4:12] = 1.0
    heads = torch.tensor(head_values).view(-1, 1, 1, 1)
    backgrounds = torch.tensor(background_values).view(-1, 1, 1, 1)
    images = (masks * heads + (1 - masks) * backgrounds).expand(-1, 3, -1, -1)
    return images, masks


def test_one_head_in_many_backgrounds_has_no_head_spread():
    images, masks = disc_batch([0.2, 0.2, 0.2, 0.2], [-0.8, 0.0, 0.4, 0.9])
    numbers = spread(images, masks)
    assert numbers["head"] == 0.0
    assert numbers["ratio"] == 0.0
    assert numbers["mask"] == 0.0
    assert numbers["background"] == pytest.approx(torch.tensor([-0.8, 0.0, 0.4, 0.9]).std().item(), abs=1e-6)


def test_two_samples_spread_by_half_their_difference_times_root_two():
    images, masks = disc_batch([0.5, -0.5], [0.1, -0.1])
    numbers = spread(images, masks)
    assert numbers["head"] == pytest.approx(1.0 / math.sqrt(2), abs=1e-6)  # unbiased std of {a, b} = |a-b|/sqrt(2)
    assert numbers["background"] == pytest.approx(0.2 / math.sqrt(2), abs=1e-6)
    assert numbers["ratio"] == pytest.approx(5.0, rel=1e-5)


def test_the_synthetic_heads_vary_about_as_much_as_their_backgrounds():
    batch = synthesize(1099, range(8), SynthSettings(resolution=24), yaw=0.0, pitch=0.0)
    numbers = spread(batch.images, batch.masks, share=0.75)
    assert numbers["ratio"] > 0.5
    assert numbers["mask"] > 0.05  # shapes, hair and hats differ, not only colours


def test_the_bench_row_of_an_untrained_model_is_finite_where_it_has_a_background():
    cells = model_row(untrained_generator("tiny"), seeds=4, resolution=8, psi=1.0)
    assert len(cells) == 6
    background, w_spread = float(cells[1]), float(cells[4])
    assert background > 0 and w_spread > 0
