import numpy as np
import pytest

from panohead.metrics.statistics import fit_gaussian, frechet_distance, inception_score, kernel_inception_distance


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(0.5, 2.0, size=(20000, 3))
    # per dimension: (mu_a - mu_b)^2 + (s_a - s_b)^2 = 0.25 + 1
    assert frechet_distance(fit_gaussian(a), fit_gaussian(b)) == pytest.approx(3 * 1.25, rel=0.03)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    same = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), subsets=20, subset_size=200)
    shifted = kernel_inception_distance(
        rng.normal(size=(400, 8)), rng.normal(1.0, size=(400, 8)), subsets=20, subset_size=200
    )
    assert abs(same) < 0.01
    assert shifted > 0.5


def test_inception_score_counts_confident_distinct_classes():
    confident = np.eye(10)[np.arange(100) % 10] * 50.0  # each sample sure of its class, 10 classes used evenly
    assert inception_score(confident, splits=10)[0] == pytest.approx(10.0, rel=1e-3)
    assert inception_score(np.zeros((100, 10)), splits=10) == pytest.approx((1.0, 0.0))
