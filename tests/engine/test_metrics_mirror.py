import math

import torch
from metrics_scenes import distinct_trigrid, mirrored_triplane

from panohead.metrics.mirror import mirror_similarity, mirror_weight, mirrored_face_score, mirrored_face_scores

FULL = torch.ones(2, 1, 16, 16)


def test_back_that_is_the_flipped_front_scores_one():
    front = torch.randn(2, 3, 16, 16)
    scores = mirror_similarity(front, 0.5 * front.flip(-1) + 0.2, mirror_weight(FULL, FULL))
    assert torch.allclose(scores, torch.ones(2), atol=1e-5)


def test_unrelated_front_and_back_score_near_zero():
    front, back = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(8, 1, 32, 32)
    assert mirror_similarity(front, back, mirror_weight(mask, mask)).abs().max() < 0.1


def test_a_shared_top_to_bottom_colour_change_is_not_a_mirrored_face():
    rows = torch.linspace(-1, 1, 16)[:, None].expand(16, 16)
    front = rows + 0.3 * torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    back = rows + 0.3 * torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert mirror_similarity(front, back, mirror_weight(FULL, FULL)).abs().max() < 0.1


def test_pixels_outside_the_back_mask_do_not_count():
    front = torch.randn(1, 3, 8, 8)
    back = front.flip(-1).clone()
    back[..., :4] = torch.randn(1, 3, 8, 4)  # garbage where the back render has no head
    back_mask = torch.zeros(1, 1, 8, 8)
    back_mask[..., 4:] = 1
    assert mirror_similarity(front, back, mirror_weight(torch.ones(1, 1, 8, 8), back_mask)).item() > 0.9999


def test_surface_seen_by_both_views_is_left_out():
    points = torch.zeros(1, 3, 8, 8)
    back_points = points.clone()
    back_points[:, 2, :, 4:] = -0.4  # right half: the back camera sees a point 0.4 behind the face
    ones = torch.ones(1, 1, 8, 8)
    weight = mirror_weight(ones, ones, points, back_points)
    assert weight[..., :4].abs().max() == 0 and torch.allclose(weight[..., 4:], torch.ones(1, 1, 8, 4))


def test_silhouettes_that_do_not_overlap_have_no_score():
    left, right = torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    left[..., :4], right[..., :4] = 1, 1  # the flipped front covers the right half, the back the left half
    weight = mirror_weight(left, right)
    assert math.isnan(mirror_similarity(torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), weight).item())


def test_triplane_built_to_mirror_scores_high_and_distinct_trigrid_low():
    assert mirrored_face_score(mirrored_triplane(), seeds=[0]) > 0.95
    assert abs(mirrored_face_score(distinct_trigrid(), seeds=[0])) < 0.2


def test_random_generator_gives_one_finite_score_per_seed(tiny_generator):
    scores = mirrored_face_scores(tiny_generator, seeds=[3, 4, 5], batch_size=2)
    assert scores.shape == (3,)
    assert torch.isfinite(scores).all() and (scores.abs() <= 1).all()
