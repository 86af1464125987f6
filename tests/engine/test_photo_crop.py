"""The Invert panel's crop box: the same crop as the alignment, and a camera that follows the box."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

pytest.importorskip("dlib")
pytest.importorskip("cv2")

from panohead.config import GeneratorConfig
from panohead.data.align import align_portrait
from panohead.data.face_pose import head_in_crop, official_framing
from panohead.inversion.photo_crop import CropBox, locate_photo

CONFIG = GeneratorConfig()  # crops at 512 px, as the panel makes them


@pytest.fixture(scope="module")
def astronaut():
    return locate_photo(Image.fromarray(skimage.data.astronaut()), CONFIG)


def test_a_box_and_its_affine_are_one_and_the_same_crop():
    box = CropBox((200.5, 110.0), (80.0, 6.0))
    for resolution in (64, 512):
        assert CropBox.from_affine(box.affine(resolution), resolution) == pytest.approx(box)
    corners = box.corners()
    assert np.allclose(corners.mean(axis=0), box.centre) and np.linalg.norm(corners[1] - corners[0]) == pytest.approx(
        box.side
    )
    assert box.contains((200.5, 110.0)) and not box.contains((200.5 + box.side, 110.0))
    assert box.moved(3, -2).centre == (203.5, 108.0) and box.resized(40.0).side == pytest.approx(40.0)
    with pytest.raises(ValueError, match="positive"):
        box.resized(-5.0)


def test_the_estimated_box_is_the_alignment_crop_and_its_camera_the_estimate(astronaut):
    aligned = align_portrait(Image.fromarray(skimage.data.astronaut()), resolution=512)
    assert np.array_equal(np.asarray(astronaut.crop(astronaut.estimate, 512)), np.asarray(aligned.crop))
    framing = official_framing(astronaut.landmarks)
    head, scale = head_in_crop(np.asarray(astronaut.estimate.centre), np.asarray(astronaut.estimate.half))
    assert np.allclose(head, framing.centre, atol=1e-9) and scale == pytest.approx(framing.pose.scale, rel=1e-12)
    assert astronaut.camera(astronaut.estimate) == pytest.approx((astronaut.yaw, astronaut.pitch), abs=0.05)
    mask = astronaut.crop_mask(astronaut.estimate, 128)
    assert mask.shape == (128, 128) and mask[64, 64] > 0.9 and mask[2, 2] < 0.1  # face inside, backdrop outside


def test_moving_the_box_off_the_head_turns_the_camera_that_way(astronaut):
    box, side = astronaut.estimate, astronaut.estimate.side
    yaw, pitch = astronaut.yaw, astronaut.pitch
    right, left = astronaut.camera(box.moved(0.1 * side, 0)), astronaut.camera(box.moved(-0.1 * side, 0))
    down = astronaut.camera(box.moved(0, 0.1 * side))
    assert right[0] > yaw + 10 and left[0] < yaw - 10  # the face now sits left (right) of the head centre
    assert down[1] < pitch - 10 and abs(down[0] - yaw) < 5


def test_a_box_too_small_or_off_the_photo_is_one_line(astronaut):
    with pytest.raises(ValueError, match="crop box 4 px across: at least 8 px"):
        astronaut.check(astronaut.estimate.resized(4.0))
    with pytest.raises(ValueError, match="lies outside the 512x512 photo"):
        astronaut.check(astronaut.estimate.moved(1000, 0))


def test_without_a_face_the_box_is_the_centred_square_and_the_camera_is_manual():
    photo = np.full((90, 120, 3), 200, np.uint8)
    located = locate_photo(Image.fromarray(photo), CONFIG)
    assert located.warning and "centred square" in located.message
    assert located.estimate == CropBox((59.5, 44.5), (45.0, 0.0))
    assert located.camera(located.estimate.moved(10, 0)) is None
    assert (located.yaw, located.pitch) == pytest.approx((0.0, 0.0), abs=1e-4)
