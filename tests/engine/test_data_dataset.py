"""The dataset reader: contents, x-flip, yaw balancing, and one-line errors for broken inputs."""

from __future__ import annotations

import json
import math
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from panohead.camera import label_to_orbit, mirror_label, pixel_rays
from panohead.data.dataset import DatasetError, HeadDataset, yaw_balance_weights, yaw_balanced_sampler
from panohead.data.synth import SynthSettings, write_synthetic_dataset
from panohead.views.camera import orbit_camera


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Six 32x32 synthetic images (folder layout)."""
    folder = tmp_path_factory.mktemp("synthetic") / "heads"
    write_synthetic_dataset(folder, 6, seed=3, settings=SynthSettings(resolution=32, yaw_mode="uniform"))
    return folder


@pytest.fixture
def copy(synthetic, tmp_path):
    """A private copy of the synthetic dataset, to break."""
    images, masks = tmp_path / "heads", tmp_path / "heads_masks"
    shutil.copytree(synthetic, images)
    shutil.copytree(synthetic.with_name("heads_masks"), masks)
    return images, masks


def test_items_have_documented_shapes_and_ranges(synthetic):
    data = HeadDataset(synthetic)
    item = data[2]
    assert len(data) == 6 and data.labels.shape == (6, 25)
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 32, 32)
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert 0.0 <= item["mask"].min() and item["mask"].max() <= 1.0
    assert item["name"] == "img00000002.png"
    torch.testing.assert_close(item["label"], data.labels[2])


def test_zip_and_folder_datasets_read_the_same(synthetic, tmp_path):
    for source, target in (
        (synthetic, tmp_path / "heads.zip"),
        (synthetic.with_name("heads_masks"), tmp_path / "heads_masks.zip"),
    ):
        with zipfile.ZipFile(target, "w") as archive:
            for path in sorted(source.iterdir()):
                archive.write(path, path.name)
    folder, zipped = HeadDataset(synthetic), HeadDataset(tmp_path / "heads.zip")
    assert zipped.masks.path == tmp_path / "heads_masks.zip"
    torch.testing.assert_close(folder[4]["image"], zipped[4]["image"])
    torch.testing.assert_close(folder[4]["mask"], zipped[4]["mask"])


def test_resolution_resizes_images_and_masks(synthetic):
    item = HeadDataset(synthetic, resolution=16)[0]
    assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (1, 16, 16)


def test_xflip_doubles_the_dataset_with_flipped_pixels_and_mirrored_labels(synthetic):
    data = HeadDataset(synthetic, xflip=True)
    assert len(data) == 12 and data.labels.shape == (12, 25)
    original, flipped = data[1], data[7]
    torch.testing.assert_close(flipped["image"], original["image"].flip(-1))
    torch.testing.assert_close(flipped["mask"], original["mask"].flip(-1))
    torch.testing.assert_close(flipped["label"], mirror_label(original["label"][None])[0])
    yaw, mirrored_yaw = label_to_orbit(torch.stack([original["label"], flipped["label"]])).yaw.tolist()
    assert mirrored_yaw == pytest.approx(-yaw, abs=1e-5)


def test_the_mirrored_label_is_the_camera_of_the_flipped_image():
    """Pixel (row, W-1-col) of the mirrored camera sees the x-reflection of pixel (row, col)'s ray."""
    label = orbit_camera(130.0, 12.0)
    res = 8
    origins, directions = pixel_rays(label, res)
    m_origins, m_directions = pixel_rays(mirror_label(label), res)
    reflect = torch.tensor([-1.0, 1.0, 1.0])
    directions = directions.reshape(res, res, 3)
    m_directions = m_directions.reshape(res, res, 3).flip(1)
    torch.testing.assert_close(m_directions, directions * reflect, atol=1e-6, rtol=0)
    torch.testing.assert_close(m_origins[0, 0], origins[0, 0] * reflect)


def test_yaw_balance_repeats_back_views_up_to_the_cap():
    yaws = torch.tensor([0.0] * 90 + [math.pi - 0.01] * 10)
    weights = yaw_balance_weights(yaws, bins=12, strength=1.0, max_repeat=8.0)
    assert weights[-1] / weights[0] == pytest.approx(8.0)
    assert weights.mean() == pytest.approx(1.0)
    back_share = (weights[90:].sum() / weights.sum()).item()
    assert back_share == pytest.approx(80 / 170, abs=1e-6)
    assert torch.allclose(yaw_balance_weights(yaws, strength=0.0), torch.ones(100))


def test_yaw_balanced_sampler_is_reproducible_and_prefers_rare_views(synthetic):
    data = HeadDataset(synthetic, xflip=True)
    first = list(yaw_balanced_sampler(data, num_samples=50, seed=5))
    assert first == list(yaw_balanced_sampler(data, num_samples=50, seed=5))
    assert len(first) == 50 and all(0 <= i < len(data) for i in first)


def _labels(folder) -> dict:
    return json.loads((folder / "dataset.json").read_text())


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_dataset_json_is_named(copy):
    images, _ = copy
    (images / "dataset.json").unlink()
    with pytest.raises(DatasetError, match=r"dataset\.json: missing") as error:
        HeadDataset(images)
    assert str(images) in _one_line(error)


def test_image_without_label_is_named(copy):
    images, _ = copy
    document = _labels(images)
    document["labels"] = [entry for entry in document["labels"] if entry[0] != "img00000004.png"]
    (images / "dataset.json").write_text(json.dumps(document))
    with pytest.raises(DatasetError, match=r"img00000004\.png: no label for this image in dataset\.json") as error:
        HeadDataset(images)
    _one_line(error)


def test_label_of_wrong_length_is_named(copy):
    images, _ = copy
    document = _labels(images)
    document["labels"][3][1] = document["labels"][3][1][:16]
    (images / "dataset.json").write_text(json.dumps(document))
    with pytest.raises(DatasetError, match=r"label of 'img00000003\.png' has 16 numbers, expected 25") as error:
        HeadDataset(images)
    _one_line(error)


def test_image_mask_size_mismatch_is_named(copy):
    images, masks = copy
    Image.new("L", (16, 16)).save(masks / "img00000001.png")
    with pytest.raises(
        DatasetError, match=r"heads_masks/img00000001\.png: mask is 16x16 but its image is 32x32"
    ) as error:
        HeadDataset(images)
    _one_line(error)


def test_missing_mask_is_named(copy):
    images, masks = copy
    (masks / "img00000005.png").unlink()
    with pytest.raises(DatasetError, match=r"img00000005\.png: missing mask"):
        HeadDataset(images)


def test_unreadable_image_is_named(copy):
    images, _ = copy
    (images / "img00000002.png").write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=r"img00000002\.png: unreadable or corrupt image") as error:
        HeadDataset(images)
    _one_line(error)


def test_truncated_image_is_named_when_loaded(copy):
    images, _ = copy
    path = images / "img00000000.png"
    path.write_bytes(path.read_bytes()[:120])
    data = HeadDataset(images)  # the header is intact: the damage shows on decoding
    with pytest.raises(DatasetError, match=r"img00000000\.png: unreadable or corrupt image") as error:
        data[0]
    _one_line(error)
    with pytest.raises(DatasetError, match=r"img00000000\.png"):
        data.verify()


def test_empty_dataset_is_rejected(tmp_path):
    images = tmp_path / "empty"
    images.mkdir()
    (tmp_path / "empty_masks").mkdir()
    (images / "dataset.json").write_text(json.dumps({"labels": []}))
    with pytest.raises(DatasetError, match=r"empty dataset") as error:
        HeadDataset(images)
    assert str(images) in _one_line(error)


def test_missing_mask_folder_is_named(copy):
    images, masks = copy
    shutil.rmtree(masks)
    with pytest.raises(DatasetError, match=r"heads_masks: mask folder/zip not found"):
        HeadDataset(images)


def test_non_square_images_are_rejected(copy):
    images, masks = copy
    Image.fromarray(np.zeros((32, 20, 3), np.uint8)).save(images / "img00000001.png")
    Image.fromarray(np.zeros((32, 20), np.uint8)).save(masks / "img00000001.png")
    with pytest.raises(DatasetError, match=r"img00000001\.png: image is 20x32; dataset images must be square"):
        HeadDataset(images)
