"""Preparing a portrait: reading files, the manual (pre-aligned) path, and user corrections."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from panohead.config import preset
from panohead.inversion import adjust_portrait, load_image, parse_label, prepare_portrait, target_tensor

CONFIG = preset("tiny")


def test_a_text_file_is_rejected_with_one_line_naming_it(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo")
    with pytest.raises(ValueError) as error:
        load_image(path)
    message = str(error.value)
    assert str(path) in message and "not a readable image" in message and "\n" not in message


def test_a_missing_file_is_reported_as_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="image file not found"):
        load_image(tmp_path / "absent.png")


def test_exif_orientation_is_applied_so_a_rotated_phone_photo_stands_upright(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red in the stored (sideways) pixels
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    top, bottom = np.asarray(loaded)[2, 10], np.asarray(loaded)[-3, 10]
    assert top[0] > 200 and bottom[0] < 60  # the red half now sits on top


@pytest.mark.parametrize("suffix,mode", [(".png", "RGBA"), (".webp", "RGB"), (".jpg", "L")])
def test_common_formats_and_modes_load_as_rgb(tmp_path, suffix, mode):
    path = tmp_path / f"face{suffix}"
    Image.new(mode, (24, 16)).save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (24, 16)


def test_transparent_pixels_become_white(tmp_path):
    path = tmp_path / "cutout.png"
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(path)
    assert np.asarray(load_image(path))[4, 4].tolist() == [255, 255, 255]


def test_a_given_yaw_and_pitch_take_a_pre_aligned_image_as_is_centre_squared():
    portrait = prepare_portrait(Image.new("RGB", (60, 40)), CONFIG, yaw=30.0, pitch=-10.0)
    assert portrait.crop.size == (40, 40)
    assert portrait.yaw_degrees == pytest.approx(30.0, abs=1e-4)
    assert portrait.pitch_degrees == pytest.approx(-10.0, abs=1e-4)
    assert portrait.label[16] == pytest.approx(CONFIG.focal)


def test_a_given_label_is_used_unchanged():
    label = prepare_portrait(Image.new("RGB", (8, 8)), CONFIG, yaw=45.0).label
    portrait = prepare_portrait(Image.new("RGB", (8, 8)), CONFIG, label=label)
    assert np.array_equal(portrait.label, label)


def test_a_photo_without_a_face_says_so_and_points_to_the_manual_path():
    pytest.importorskip("dlib")
    with pytest.raises(ValueError) as error:
        prepare_portrait(Image.new("RGB", (64, 64), (128, 128, 128)), CONFIG)
    message = str(error.value)
    assert message.startswith("no face found") and "--yaw" in message and "\n" not in message


def test_a_real_portrait_is_detected_aligned_and_given_a_frontal_camera():
    pytest.importorskip("dlib")
    import skimage.data

    portrait = prepare_portrait(Image.fromarray(skimage.data.astronaut()), CONFIG)
    assert portrait.crop.size == (CONFIG.image_resolution,) * 2
    assert abs(portrait.yaw_degrees) < 20 and abs(portrait.pitch_degrees) < 20
    assert portrait.message.startswith("stage 1")


@pytest.mark.parametrize("text,problem", [("1,2,3", "has 3 numbers"), ("a b", "not a list of numbers")])
def test_malformed_labels_are_one_line_errors(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_label(text)


def test_parse_label_reads_25_numbers_with_commas_or_spaces():
    assert parse_label(" ".join(["1"] * 20) + ",2,2,2,2,2").tolist() == [1.0] * 20 + [2.0] * 5


def test_zoom_tightens_the_crop_about_its_centre_and_shift_moves_it():
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[10:30, 10:30] = 255  # a white square filling the middle half
    portrait = prepare_portrait(Image.fromarray(pixels), CONFIG, yaw=0.0)
    zoomed = np.asarray(adjust_portrait(portrait, CONFIG, zoom=2.0).crop)
    assert zoomed.size == pixels.size and zoomed[1:-1, 1:-1].min() > 200  # the square now fills the frame
    shifted = np.asarray(adjust_portrait(portrait, CONFIG, shift=(0.25, 0.0)).crop)
    assert shifted[20, 2].min() > 200 and shifted[20, 25].max() < 30  # content moved left by 10 px


def test_editing_yaw_keeps_pitch_radius_and_focal():
    portrait = prepare_portrait(Image.new("RGB", (8, 8)), CONFIG, yaw=10.0, pitch=5.0)
    edited = adjust_portrait(portrait, CONFIG, yaw=-20.0)
    assert edited.yaw_degrees == pytest.approx(-20.0, abs=1e-4)
    assert edited.pitch_degrees == pytest.approx(5.0, abs=1e-4)
    assert np.linalg.norm(edited.label[[3, 7, 11]]) == pytest.approx(CONFIG.camera_radius, rel=1e-5)


def test_target_tensor_is_in_the_generators_range_and_size():
    target = target_tensor(Image.new("RGB", (50, 50), (255, 0, 128)), 32)
    assert target.shape == (1, 3, 32, 32)
    assert target[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, 128 / 127.5 - 1], abs=1e-6)


def test_a_photo_too_small_for_a_head_is_refused_even_with_a_given_camera():
    with pytest.raises(ValueError, match="1x1 pixels; at least 8"):
        prepare_portrait(Image.new("RGB", (1, 1)), preset("tiny"), yaw=0.0)
