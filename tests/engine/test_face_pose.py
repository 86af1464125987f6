"""The official framing and camera from 68 landmarks, checked against the official sample crops.

``tests/engine/data/official_crops.json`` holds numbers measured on the four official sample crops (our
dlib landmarks and their official labels; the images are not in this repository). Every error is
measured on a crop left out of the fit (leave-one-out). Set PANOHEAD_OFFICIAL_SAMPLES to a folder
holding the official repository's ``3DDFA_V2_cropping/`` and ``dataset/`` to also run the whole
aligner on the real crops.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from panohead.camera import label_from_rotation, label_to_orbit
from panohead.data.face_pose import (
    CANVAS,
    HALF_SIDE_MM,
    HEAD_CENTRE,
    MEAN_FACE,
    QUAD_CENTRE,
    QUAD_HALF,
    fit_framing,
    fit_mean_face,
    official_framing,
    rotation_from_label,
)

RECORDS = json.loads((Path(__file__).parent / "data" / "official_crops.json").read_text())["crops"]
LANDMARKS = [np.asarray(r["landmarks"], dtype=np.float64) for r in RECORDS]
ROTATIONS = [rotation_from_label(np.asarray(r["label"])) for r in RECORDS]


def yaw_pitch(rotation: np.ndarray) -> tuple[float, float]:
    orbit = label_to_orbit(label_from_rotation(torch.as_tensor(rotation)[None]))
    return math.degrees(float(orbit.yaw[0])), math.degrees(float(orbit.pitch[0]))


def test_label_from_rotation_rebuilds_the_official_labels():
    for record, rotation in zip(RECORDS, ROTATIONS, strict=True):
        label = label_from_rotation(torch.as_tensor(rotation)[None])[0].numpy()
        np.testing.assert_allclose(label, record["label"], atol=2e-6)
        assert np.linalg.norm(label[[3, 7, 11]]) == pytest.approx(2.7, abs=1e-3)


@pytest.mark.parametrize("held", range(len(RECORDS)), ids=[r["name"] for r in RECORDS])
def test_a_crop_left_out_of_the_fit_gets_the_official_camera_and_crop(held):
    train = [i for i in range(len(RECORDS)) if i != held]
    face = fit_mean_face([LANDMARKS[i] for i in train], [ROTATIONS[i] for i in train])
    centre, half_side = fit_framing([LANDMARKS[i] for i in train], face)
    framing = official_framing(LANDMARKS[held], face, centre, half_side)
    (yaw, pitch), (true_yaw, true_pitch) = yaw_pitch(framing.pose.rotation), yaw_pitch(ROTATIONS[held])
    assert abs(yaw - true_yaw) < 3.0 and abs(pitch - true_pitch) < 3.0
    side = 2 * QUAD_HALF  # the official quad inside the 563-pixel crop
    assert np.abs(framing.centre - QUAD_CENTRE).max() < 0.02 * side
    assert framing.side == pytest.approx(side, rel=0.02)


def test_shipped_mean_face_is_the_fit_to_all_official_crops():
    face = fit_mean_face(LANDMARKS, ROTATIONS)
    np.testing.assert_allclose(MEAN_FACE, face, atol=0.06)
    centre, half_side = fit_framing(LANDMARKS, MEAN_FACE)
    np.testing.assert_allclose(HEAD_CENTRE, centre, atol=0.06)
    assert HALF_SIDE_MM == pytest.approx(half_side, abs=0.06)


def test_framing_follows_the_face_through_a_larger_rotated_photo():
    """A crop pasted into a bigger photo (scaled, turned, moved) is cut out again at the same place."""
    angle, scale, shift = math.radians(25), 1.7, np.array([400.0, 150.0])
    turn = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    for landmarks in LANDMARKS:
        crop, photo = official_framing(landmarks), official_framing(landmarks @ turn.T + shift)
        expected = turn @ crop.affine(CANVAS)
        expected[:, 2] += shift
        np.testing.assert_allclose(photo.affine(CANVAS), expected, atol=1e-3 * scale * CANVAS)
        np.testing.assert_allclose(photo.pose.rotation, crop.pose.rotation, atol=1e-4)


def test_official_crop_geometry_at_the_canvas_size_is_the_identity_on_the_quad():
    framing = official_framing(LANDMARKS[0])
    corners = np.array([[25.0, 51.0, 1.0], [536.0, 562.0, 1.0]])
    mapped = corners @ framing.affine(CANVAS).T
    np.testing.assert_allclose(
        mapped, [framing.centre - framing.x - framing.y, framing.centre + framing.x + framing.y], atol=1e-6
    )


OFFICIAL = os.environ.get("PANOHEAD_OFFICIAL_SAMPLES")


@pytest.mark.skipif(not OFFICIAL, reason="set PANOHEAD_OFFICIAL_SAMPLES to a copy of the official sample crops")
@pytest.mark.parametrize("record", RECORDS, ids=[r["name"] for r in RECORDS])
def test_realigning_an_official_crop_returns_it(record):
    from PIL import Image

    from panohead.data.align import Aligner

    image = np.asarray(Image.open(Path(OFFICIAL) / record["source"]).convert("RGB"))
    result = Aligner(resolution=CANVAS).align(image)
    centre = result.affine[:, :2] @ np.asarray(QUAD_CENTRE) + result.affine[:, 2]
    assert np.abs(centre - QUAD_CENTRE).max() < 0.02 * 2 * QUAD_HALF
    assert np.hypot(*result.affine[:, 0]) == pytest.approx(1.0, rel=0.02)
    yaw, pitch = (
        math.degrees(float(a[0]))
        for a in (label_to_orbit(result.label[None]).yaw, label_to_orbit(result.label[None]).pitch)
    )
    official = label_to_orbit(torch.tensor([record["label"]], dtype=torch.float32))
    assert abs(yaw - math.degrees(float(official.yaw[0]))) < 3.0
    assert abs(pitch - math.degrees(float(official.pitch[0]))) < 3.0
