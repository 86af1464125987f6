"""Stage-2 yaw of heads without a visible face: the fitted net on held-out synthetic heads with exact yaws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2")

from panohead.data.align import Aligner
from panohead.data.estimators import Box, RoughPose, head_box_from_mask
from panohead.data.head_yaw import BINS, LearnedHeadPose, head_patch, read_yaw
from panohead.data.synth import SynthSettings, synthesize
from panohead.images import to_uint8


def wrapped(error: float) -> float:
    return (error + 180.0) % 360.0 - 180.0


def test_read_yaw_is_the_circular_mean_near_the_best_bin_and_the_mass_within_15_degrees_of_it():
    one = np.zeros(BINS)
    one[6] = 1.0
    assert read_yaw(one) == pytest.approx((90.0, 1.0))
    two = np.zeros(BINS)
    two[[11, 12, 13]] = [0.25, 0.5, 0.25]  # bins 165, 180, 195: half of each outer bin lies within 15 of 180
    assert read_yaw(two) == pytest.approx((180.0, 0.75))
    split = np.zeros(BINS)
    split[[0, 12]] = [0.6, 0.4]  # front or back: the answer is the front, with 60% of the belief
    assert read_yaw(split) == pytest.approx((0.0, 0.6))
    between = np.zeros(BINS)
    between[[4, 5]] = [0.5, 0.5]  # 60 or 75: the yaw 67.5, both bins wholly within 15 degrees of it
    assert read_yaw(between) == pytest.approx((67.5, 1.0))
    assert read_yaw(np.full(BINS, 1 / BINS))[1] == pytest.approx(2 / BINS)


def test_mirrored_head_gets_the_opposite_yaw_exactly():
    image = to_uint8(synthesize(21, [0], SynthSettings(resolution=128), yaw=120.0, pitch=0.0).images[0])
    box = Box(30.5, 20.0, 95.0, 100.0)
    mirrored_box = Box(128 - box.right, box.top, 128 - box.left, box.bottom)
    assert np.allclose(head_patch(image[:, ::-1], mirrored_box), head_patch(image, box)[:, :, ::-1], atol=1e-4)
    estimator = LearnedHeadPose()
    pose, mirrored = estimator(image, box), estimator(np.ascontiguousarray(image[:, ::-1]), mirrored_box)
    assert mirrored.yaw == pytest.approx(-pose.yaw, abs=1e-3)
    assert mirrored.confidence == pytest.approx(pose.confidence, abs=1e-5)


# Held-out heads (the net is fitted on seed 100): seed 21, heads 0-3 at 160 px, head box from the exact
# mask. Measured |error| (median, max) in degrees: +90 (9.0, 11.7), -90 (6.5, 26.3), +120 (5.6, 12.4),
# -150 (3.7, 14.2), 180 (1.8, 8.9). The bounds leave room for CPU-to-CPU float differences.
MEDIAN_BOUND, MAX_BOUND = 10.0, 30.0


@pytest.mark.slow
@pytest.mark.parametrize("yaw", [90, -90, 120, -150, 180])
def test_yaw_of_held_out_synthetic_profiles_and_backs_is_within_the_measured_bound(yaw):
    batch = synthesize(21, range(4), SynthSettings(resolution=160), yaw=yaw, pitch=0.0)
    estimator = LearnedHeadPose()
    errors = []
    for image, mask in zip(batch.images, batch.masks[:, 0].numpy(), strict=True):
        pose = estimator(to_uint8(image), head_box_from_mask(mask))
        errors.append(abs(wrapped(pose.yaw - yaw)))
    assert np.median(errors) <= MEDIAN_BOUND and max(errors) <= MAX_BOUND, errors


@pytest.mark.slow
@pytest.mark.parametrize("yaw", [60, -90])
def test_every_held_out_head_is_within_15_degrees_or_flagged_unsure(yaw):
    """The two heads of these buckets that were 52 and 26 degrees off with confidences 0.59 and 0.95
    (person-mask head box, as the aligner uses): now each head is within 15 degrees or below
    UNSURE_CONFIDENCE."""
    from panohead.data.align import UNSURE_CONFIDENCE
    from panohead.data.estimators import SelfieSegmenter

    batch = synthesize(21, range(4), SynthSettings(resolution=160), yaw=yaw, pitch=0.0)
    estimator, segmenter = LearnedHeadPose(), SelfieSegmenter()
    for image in batch.images:
        photo = to_uint8(image)
        pose = estimator(photo, head_box_from_mask(segmenter(photo)))
        assert abs(wrapped(pose.yaw - yaw)) <= 15.0 or pose.confidence < UNSURE_CONFIDENCE, (pose.yaw, pose.confidence)


class UnsurePose:
    def __call__(self, image: np.ndarray, head: Box) -> RoughPose:
        return RoughPose(150.0, 0.0, 0.3, "stub estimator: yaw +150, confidence 0.30")


def test_an_unsure_stage_two_yaw_is_flagged_in_the_report_line():
    image = to_uint8(synthesize(21, [0], SynthSettings(resolution=160), yaw=180.0, pitch=0.0).images[0])
    result = Aligner(resolution=64, rough_pose=UnsurePose()).align(image)
    assert result.stage == 2 and result.yaw == 150.0
    assert "YAW UNSURE" in result.message and "--overrides" in result.message
    assert "\n" not in result.report_line()


def test_the_weights_ship_with_the_package_and_load_without_a_download():
    from panohead.data.head_yaw import WEIGHTS, load_head_yaw_net

    net = load_head_yaw_net(WEIGHTS)
    assert sum(p.numel() for p in net.parameters()) < 200_000
    assert not any(torch.isnan(p).any() for p in net.parameters())
