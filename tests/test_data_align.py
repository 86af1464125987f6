"""Two-stage alignment: a real portrait through stage 1, a synthetic back view through stage 2."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("dlib")
pytest.importorskip("cv2")

from panohead.camera import label_to_orbit  # noqa: E402
from panohead.cli import main  # noqa: E402
from panohead.data.align import (TEMPLATE_INDICES, AlignmentError, Aligner, CropCalibration, align_folder,  # noqa: E402
                                 align_portrait, fit_similarity, project_template)
from panohead.data.dataset import HeadDataset  # noqa: E402
from panohead.data.estimators import DlibLandmarks, _profile_cascade, head_box_from_mask  # noqa: E402
from panohead.errors import MissingCapability  # noqa: E402
from panohead.data.synth import SynthSettings, synthesize  # noqa: E402
from panohead.images import to_uint8  # noqa: E402

RES = 128


@pytest.fixture(scope="module")
def astronaut():
    return align_portrait(Image.fromarray(skimage.data.astronaut()), resolution=RES)


def test_astronaut_is_aligned_by_stage_one_with_a_frontal_camera(astronaut):
    assert astronaut.stage == 1
    assert astronaut.crop.size == (RES, RES) and astronaut.label.shape == (25,)
    orbit = label_to_orbit(astronaut.label[None])
    assert abs(math.degrees(orbit.yaw.item())) < 20
    assert abs(math.degrees(orbit.pitch.item())) < 20
    assert orbit.radius.item() == pytest.approx(2.7, abs=1e-4)


def test_astronaut_crop_has_the_face_centred(astronaut):
    faces = DlibLandmarks()(np.asarray(astronaut.crop))
    assert faces, "the face must still be detectable in the crop"
    landmarks = faces[0].landmarks
    eyes = landmarks[36:48].mean(axis=0) / RES
    nose = landmarks[30] / RES
    assert abs(nose[0] - 0.5) < 0.05 and abs(eyes[0] - 0.5) < 0.05
    assert 0.35 < eyes[1] < 0.5  # eyes a little above the centre, like the orbit renders
    # Consistent scale: the fitted landmarks spread as much as the template does in the orbit render.
    fitted = landmarks[list(TEMPLATE_INDICES)] / RES
    template = project_template(astronaut.yaw, astronaut.pitch)
    spread = np.sqrt(((fitted - fitted.mean(0)) ** 2).sum(1).mean())
    assert spread == pytest.approx(np.sqrt(((template - template.mean(0)) ** 2).sum(1).mean()), rel=0.1)


def test_align_portrait_without_a_face_is_a_one_line_error():
    flat = Image.new("RGB", (96, 96), (120, 140, 160))
    with pytest.raises(AlignmentError, match="no face found") as error:
        align_portrait(flat, resolution=64)
    assert "\n" not in str(error.value)


def test_synthetic_back_view_goes_through_stage_two_with_a_back_camera():
    image = to_uint8(synthesize(3, [0], SynthSettings(resolution=160), yaw=math.pi, pitch=0.0).images[0])
    result = Aligner(resolution=64).align(image)
    assert result.stage == 2
    assert abs(result.yaw) > 90
    assert abs(math.degrees(label_to_orbit(result.label[None]).yaw.item())) > 90
    mask = np.asarray(result.mask) / 255.0
    assert 0.2 < mask.mean() < 0.8


def test_default_crop_calibration_matches_frontal_synthetic_heads():
    batch = synthesize(5, range(12), SynthSettings(resolution=96, pitch_range=(-10.0, 10.0)), yaw=0.0)
    samples = []
    for mask in batch.masks[:, 0].numpy():
        box = head_box_from_mask(mask)
        identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # the render itself is the crop
        samples.append(CropCalibration.measure(box, identity, 96))
    measured = CropCalibration.median(samples)
    default = CropCalibration.default()
    assert measured.scale == pytest.approx(default.scale, rel=0.12)
    assert measured.offset_x == pytest.approx(default.offset_x, abs=0.05)
    assert measured.offset_y == pytest.approx(default.offset_y, abs=0.08)


def test_similarity_fit_recovers_scale_rotation_and_shift():
    source = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    angle = math.radians(20)
    linear = 2.5 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    target = source @ linear.T + np.array([4.0, -1.0])
    np.testing.assert_allclose(fit_similarity(source, target), np.concatenate([linear, [[4.0], [-1.0]]], axis=1), atol=1e-9)


def test_template_projection_turns_with_yaw():
    front, side = project_template(0.0, 0.0), project_template(60.0, 0.0)
    assert front[4, 0] == pytest.approx(0.5, abs=1e-6)  # nose tip on the centre line
    assert side[4, 0] < 0.5  # camera to the head's left (+x): the nose points to image-left


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.astronaut()).resize((256, 256)).save(folder / "astronaut.jpg")
    back = synthesize(3, [1], SynthSettings(resolution=128), yaw=math.pi, pitch=0.0)
    Image.fromarray(to_uint8(back.images[0])).save(folder / "back.png")
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def test_align_folder_reports_every_image_and_writes_a_readable_dataset(photos, tmp_path):
    report = align_folder(photos, tmp_path / "aligned", resolution=64, overrides={"back.png": (170.0, 5.0)})
    assert report.aligned == 2 and report.skipped == 1
    assert report.stage_counts == {1: 1, 2: 1}
    lines = {line.split(":")[0]: line for line in report.lines}
    assert "stage 1" in lines["astronaut.jpg"]
    assert "stage 2" in lines["back.png"] and "set by hand" in lines["back.png"]
    assert "SKIPPED: unreadable image" in lines["broken.jpg"]
    assert "calibration from 1 stage-1 images" in report.lines[0]
    data = HeadDataset(tmp_path / "aligned")
    assert data.names == ["astronaut.png", "back.png"]
    yaws = torch.rad2deg(data.yaws()).tolist()
    assert yaws[1] == pytest.approx(170.0, abs=1e-3)
    assert abs(yaws[0]) < 20


def test_cli_align_prints_the_report_and_fails_on_skipped_images(photos, tmp_path):
    overrides = tmp_path / "angles.json"
    overrides.write_text(json.dumps({"back.png": [180, 0]}))
    result = CliRunner().invoke(main, ["dataset", "align", str(photos), "--out", str(tmp_path / "out"), "-r", "32",
                                       "--overrides", str(overrides), "--report", str(tmp_path / "report.txt")])
    assert result.exit_code == 1
    assert "aligned 2 images (stage 1: 1, stage 2: 1), skipped 1" in result.output
    assert "broken.jpg: SKIPPED" in (tmp_path / "report.txt").read_text()
    assert len(HeadDataset(tmp_path / "out")) == 2


@pytest.fixture
def opencv_without_cascades(monkeypatch):
    """OpenCV as 5.0 ships it: no CascadeClassifier, no bundled Haar cascades."""
    import cv2

    _profile_cascade.cache_clear()
    monkeypatch.delattr(cv2, "CascadeClassifier")
    monkeypatch.delattr(cv2.data, "haarcascades")
    yield
    _profile_cascade.cache_clear()


def test_back_view_without_opencv_cascades_is_a_one_line_missing_capability(opencv_without_cascades):
    image = to_uint8(synthesize(3, [0], SynthSettings(resolution=96), yaw=math.pi, pitch=0.0).images[0])
    with pytest.raises(MissingCapability) as error:
        Aligner(resolution=32).align(image)
    message = str(error.value)
    assert "\n" not in message
    assert "cv2.CascadeClassifier" in message and "opencv-python-headless>=4.8,<5" in message and "--overrides" in message


def test_cli_align_without_opencv_cascades_still_writes_the_report(photos, tmp_path, opencv_without_cascades):
    report = tmp_path / "report.txt"
    result = CliRunner().invoke(main, ["dataset", "align", str(photos), "--out", str(tmp_path / "out"), "-r", "32",
                                       "--report", str(report)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "aligned 1 images (stage 1: 1, stage 2: 0), skipped 2" in result.output
    lines = {line.split(":")[0]: line for line in report.read_text().splitlines()}
    assert "SKIPPED" in lines["back.png"] and "cv2.CascadeClassifier" in lines["back.png"]
    assert "stage 1" in lines["astronaut.jpg"]


def test_align_folder_without_opencv_cascades_uses_the_angles_given_by_hand(photos, tmp_path, opencv_without_cascades):
    report = align_folder(photos, tmp_path / "aligned", resolution=32, overrides={"back.png": (180.0, 0.0)})
    assert report.stage_counts == {1: 1, 2: 1}


def test_missing_dlib_is_one_line_naming_the_package(monkeypatch, photos, tmp_path):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(MissingCapability, match="dlib-bin") as error:
        DlibLandmarks()(np.zeros((32, 32, 3), np.uint8))
    assert "\n" not in str(error.value)
    report = align_folder(photos, tmp_path / "aligned", resolution=32)
    assert report.aligned == 0 and report.skipped == 3
    assert all("dlib" in line for line in report.lines[1:] if "broken" not in line)
