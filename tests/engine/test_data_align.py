"""Two-stage alignment: a real portrait through stage 1, a synthetic back view through stage 2."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("dlib")
pytest.importorskip("cv2")

from panohead.camera import label_to_orbit
from panohead.cli import main
from panohead.data.align import Aligner, AlignmentError, CropCalibration, align_folder, align_portrait, warp
from panohead.data.dataset import HeadDataset
from panohead.data.estimators import DlibLandmarks, _cascade, head_box_from_mask
from panohead.data.face_pose import CANVAS, QUAD_CENTRE, QUAD_HALF, official_framing
from panohead.data.synth import SynthSettings, synthesize
from panohead.errors import MissingCapability
from panohead.images import to_uint8

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


def test_astronaut_crop_has_the_official_framing(astronaut):
    """Re-detected in the crop, the face sits where the official crops put faces (see test_face_pose.py)."""
    faces = DlibLandmarks()(np.asarray(astronaut.crop))
    assert faces, "the face must still be detectable in the crop"
    framing = official_framing(faces[0].landmarks)
    side = RES * 2 * QUAD_HALF / CANVAS
    centre = (np.asarray(QUAD_CENTRE) + 0.5) * RES / CANVAS - 0.5
    assert np.abs(framing.centre - centre).max() < 0.03 * side
    assert framing.side == pytest.approx(side, rel=0.04)


def test_crop_outside_the_photo_is_blurred_padding_not_streaks():
    """Rows beyond the photo's top repeat no photo row: the padding is mirrored and blurred."""
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:, ::2] = 255  # vertical stripes: edge replication would copy them up unchanged
    affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -32.0]])  # crop rows 0..31 lie above the photo
    crop = warp(photo, affine, 64).astype(np.float32)
    assert crop[40:, :, 0].std() > 100  # inside: the stripes as they are
    assert crop[:20, :, 0].std() < 0.4 * crop[40:, :, 0].std()  # outside: blurred towards their mean
    assert crop[:20].mean() == pytest.approx(photo.mean(), abs=10)


def test_align_portrait_without_a_face_is_a_one_line_error():
    flat = Image.new("RGB", (96, 96), (120, 140, 160))
    with pytest.raises(AlignmentError, match="no face found") as error:
        align_portrait(flat, resolution=64)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_synthetic_back_view_goes_through_stage_two_with_a_back_camera():
    image = to_uint8(synthesize(3, [0], SynthSettings(resolution=160), yaw=180.0, pitch=0.0).images[0])
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


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.astronaut()).resize((256, 256)).save(folder / "astronaut.jpg")
    back = synthesize(3, [1], SynthSettings(resolution=128), yaw=180.0, pitch=0.0)
    Image.fromarray(to_uint8(back.images[0])).save(folder / "back.png")
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


@pytest.mark.slow
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
    result = CliRunner().invoke(
        main,
        [
            "dataset",
            "align",
            str(photos),
            "--out",
            str(tmp_path / "out"),
            "-r",
            "32",
            "--overrides",
            str(overrides),
            "--report",
            str(tmp_path / "report.txt"),
        ],
    )
    assert result.exit_code == 1
    assert "aligned 2 images (stage 1: 1, stage 2: 1), skipped 1" in result.output
    assert "broken.jpg: SKIPPED" in (tmp_path / "report.txt").read_text()
    assert len(HeadDataset(tmp_path / "out")) == 2


@pytest.fixture
def opencv_without_cascades(monkeypatch):
    """OpenCV as 5.0 ships it: no CascadeClassifier, no bundled Haar cascades."""
    import cv2

    _cascade.cache_clear()
    monkeypatch.delattr(cv2, "CascadeClassifier")
    monkeypatch.delattr(cv2.data, "haarcascades")
    yield
    _cascade.cache_clear()


@pytest.mark.slow
def test_back_view_without_opencv_cascades_is_aligned_and_says_the_profile_check_is_missing(opencv_without_cascades):
    image = to_uint8(synthesize(3, [0], SynthSettings(resolution=160), yaw=180.0, pitch=0.0).images[0])
    result = Aligner(resolution=32).align(image)
    assert result.stage == 2 and abs(result.yaw) > 150
    assert "no profile cross-check" in result.message and "cv2.CascadeClassifier" in result.message
    assert "opencv-python-headless>=4.8,<5" in result.message and "\n" not in result.message


def test_cli_align_without_opencv_cascades_still_aligns_backs_and_writes_the_report(
    photos, tmp_path, opencv_without_cascades
):
    report = tmp_path / "report.txt"
    result = CliRunner().invoke(
        main, ["dataset", "align", str(photos), "--out", str(tmp_path / "out"), "-r", "32", "--report", str(report)]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "aligned 2 images (stage 1: 1, stage 2: 1), skipped 1" in result.output
    lines = {line.split(":")[0]: line for line in report.read_text().splitlines()}
    assert "stage 2" in lines["back.png"] and "no profile cross-check" in lines["back.png"]
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


def test_cli_align_of_a_folder_with_nothing_alignable_fails_writes_no_dataset_but_the_report(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a photo")
    Image.new("RGB", (8, 8)).save(photos / "tiny.png")
    result = CliRunner().invoke(
        main,
        [
            "dataset",
            "align",
            str(photos),
            "--out",
            str(tmp_path / "out"),
            "-r",
            "32",
            "--report",
            str(tmp_path / "report.txt"),
        ],
    )
    assert result.exit_code == 1
    assert "none of the 2 image(s) could be aligned" in result.output
    assert not (tmp_path / "out").exists()
    report = (tmp_path / "report.txt").read_text()
    assert "tiny.png: SKIPPED: the image is 8x8 pixels" in report and "broken.jpg: SKIPPED" in report


def test_several_faces_are_listed_and_one_is_picked(tmp_path):
    face = skimage.data.astronaut()[:300, 80:380]
    photo = np.concatenate([face, face[:, ::-1]], axis=1)  # the same face twice, the second mirrored
    first = Aligner(resolution=64).align(photo)
    second = Aligner(resolution=64).align(photo, face_index=1)
    assert "2 faces" in first.message and "using face 2" in second.message
    centres = [result.affine[:, :2] @ np.array([32.0, 32.0]) + result.affine[:, 2] for result in (first, second)]
    assert {c[0] < 300 for c in centres} == {True, False}  # one crop per face
    with pytest.raises(AlignmentError, match="face 3 was asked for but 2 face"):
        Aligner(resolution=64).align(photo, face_index=2)


def test_person_masks_match_exact_synthetic_masks_with_hair_from_front_side_and_back():
    """The segmenter (learned model + GrabCut refinement) against the renderer's exact masks; hair included.

    The issue's target is a mean IoU of 0.95; on this set it measured 0.948 before the back-view and
    shoulder priors of ``_grabcut_refine`` and 0.991 after (min 0.977; docs/alignment.md has the per-category table).
    """
    from panohead.data.estimators import SelfieSegmenter

    segmenter = SelfieSegmenter()
    ious = []
    for yaw in (0, 90, 180, -90):
        batch = synthesize(11, range(3), SynthSettings(resolution=160), yaw=yaw, pitch=0.0)
        for image, exact in zip(batch.images, batch.masks[:, 0].numpy() > 0.5, strict=True):
            found = segmenter(to_uint8(image)) > 0.5
            ious.append((found & exact).sum() / (found | exact).sum())
    assert np.mean(ious) >= 0.95
    assert np.min(ious) >= 0.9


def _drawn_sun() -> np.ndarray:
    import cv2

    sun = np.full((256, 256, 3), (90, 150, 230), np.uint8)
    cv2.circle(sun, (128, 110), 45, (255, 220, 40), -1)
    for k in range(12):
        t = k * math.pi / 6
        start = (int(128 + 55 * math.cos(t)), int(110 + 55 * math.sin(t)))
        cv2.line(sun, start, (int(128 + 85 * math.cos(t)), int(110 + 85 * math.sin(t))), (255, 220, 40), 5)
    return sun


def _tiny_frontal_face() -> np.ndarray:
    """The astronaut's face at 36 px (too small for the landmark detector) on a plain 480 px photo."""
    import cv2

    photo = np.full((480, 480, 3), 200, np.uint8)
    photo[200:236, 220:256] = cv2.resize(
        skimage.data.astronaut()[20:260, 130:370], (36, 36), interpolation=cv2.INTER_AREA
    )
    return photo


@pytest.mark.parametrize("make", [_drawn_sun, _tiny_frontal_face], ids=["drawn sun", "tiny frontal face"])
def test_stage_two_refuses_what_is_not_a_head_with_a_reason(make):
    with pytest.raises(AlignmentError, match="not a head|does not look like a head|too small") as error:
        Aligner(resolution=64).align(make())
    assert "\n" not in str(error.value)


def test_stage_two_yaw_of_synthetic_back_views_is_within_15_degrees():
    aligner = Aligner(resolution=64)
    batch = synthesize(21, range(4), SynthSettings(resolution=192), yaw=180.0, pitch=0.0)
    for image in batch.images:
        result = aligner.align(to_uint8(image))
        assert result.stage == 2
        assert abs((result.yaw - 180.0 + 180.0) % 360.0 - 180.0) <= 15.0


def test_contact_sheet_has_a_tile_per_photo_with_crop_mask_and_camera(photos, tmp_path):
    sheet_path = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        main,
        [
            "dataset",
            "align",
            str(photos),
            "--out",
            str(tmp_path / "out"),
            "-r",
            "32",
            "--contact-sheet",
            str(sheet_path),
        ],
    )
    assert result.exit_code == 1  # broken.jpg is skipped
    line = next(line for line in result.output.splitlines() if line.startswith("astronaut.jpg: "))
    assert re.match(r"astronaut\.jpg: yaw [+-]\d+\.\d, pitch [+-]\d+\.\d, crop \d+ px of the photo; stage 1", line)
    sheet = np.asarray(Image.open(sheet_path).convert("RGB")).astype(np.float32)
    from panohead.data.contact_sheet import ROW_HEIGHT, TEXT_ROWS, TILE

    tile_w, tile_h = 2 * TILE + 2, TILE + TEXT_ROWS * ROW_HEIGHT + 4 + 2
    assert sheet.shape[:2] == (tile_h, 3 * tile_w)  # three photos, one row
    astronaut = sheet[:TILE, :TILE]  # sorted names: astronaut.jpg, back.png, broken.jpg
    overlay = sheet[:TILE, TILE : 2 * TILE]
    assert astronaut.std() > 20  # a real crop
    corner, centre = overlay[:12, :12].mean(), overlay[50:80, 50:80]
    assert corner < 0.4 * astronaut[:12, :12].mean() + 1  # background darkened by the mask
    assert centre[..., 1].mean() > centre[..., 0].mean()  # the person tinted green
    assert sheet[TILE + 2 : tile_h - 2, :tile_w].max() > 200  # text under the tile


def test_loading_the_segmentation_model_prints_nothing_on_stderr():
    """LiteRT's XNNPACK delegate announces itself on file descriptor 2; the CLI's output stays ours."""
    code = "from panohead.data.estimators import _selfie_interpreter; _selfie_interpreter()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
