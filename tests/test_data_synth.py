"""Synthetic heads: exact labels, masks that are the rendered silhouettes, determinism, camera distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from panohead.camera import DEFAULT_FOCAL, DEFAULT_RADIUS, label_to_orbit, mirror_label, orbit_label
from panohead.cli import main
from panohead.data.dataset import HeadDataset
from panohead.data.heads import HAIR_STYLES, sample_head, stack_params
from panohead.data.synth import SynthSettings, render_heads, sample_camera, synthesize, write_synthetic_dataset

SMALL = SynthSettings(resolution=32, yaw_mode="uniform", pitch_range=(-30.0, 30.0))


def test_labels_round_trip_to_the_intended_yaw_and_pitch():
    batch = synthesize(7, range(5), SMALL)
    orbit = label_to_orbit(batch.labels)
    torch.testing.assert_close(orbit.yaw, batch.yaws, atol=1e-5, rtol=0)
    torch.testing.assert_close(orbit.pitch, batch.pitches, atol=1e-5, rtol=0)
    torch.testing.assert_close(orbit.radius, torch.full((5,), DEFAULT_RADIUS), atol=1e-5, rtol=0)
    torch.testing.assert_close(orbit.focal, torch.full((5,), DEFAULT_FOCAL))
    assert (batch.pitches.abs() <= math.radians(30.0) + 1e-6).all()


def test_written_labels_round_trip_through_the_reader(tmp_path):
    write_synthetic_dataset(tmp_path / "heads.zip", 3, seed=2, settings=SMALL)
    data = HeadDataset(tmp_path / "heads.zip")
    expected = synthesize(2, range(3), SMALL)
    torch.testing.assert_close(data.labels, expected.labels)
    assert (tmp_path / "heads_masks.zip").is_file()


def test_an_override_camera_gives_that_yaw():
    batch = synthesize(0, range(2), SMALL, yaw=math.radians(-150.0), pitch=math.radians(10.0))
    orbit = label_to_orbit(batch.labels)
    assert torch.rad2deg(orbit.yaw).tolist() == pytest.approx([-150.0, -150.0], abs=1e-3)
    assert torch.rad2deg(orbit.pitch).tolist() == pytest.approx([10.0, 10.0], abs=1e-3)


def test_same_seed_same_images_whatever_the_batch():
    whole = synthesize(11, range(4), SMALL)
    part = synthesize(11, [2, 3], SMALL)
    torch.testing.assert_close(part.images, whole.images[2:])
    torch.testing.assert_close(part.labels, whole.labels[2:])
    other = synthesize(12, [2, 3], SMALL)
    assert (other.images - part.images).abs().mean() > 0.05


def _heads(seed: int, count: int, **changes) -> list[dict]:
    heads = [sample_head(np.random.default_rng([seed, i])) for i in range(count)]
    for head in heads:
        head.update(changes)
    return heads


def test_masks_are_the_rendered_silhouettes():
    """Over two different backgrounds: outside the mask the image is the background, inside it is the same head."""
    heads = stack_params(_heads(4, 2))
    labels = orbit_label(torch.tensor([0.3, 2.8]), torch.tensor([0.1, -0.2]))
    black, white = torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)
    on_black, mask = render_heads(heads, labels, 32, black)
    on_white, mask_again = render_heads(heads, labels, 32, white)
    torch.testing.assert_close(mask, mask_again)
    background = mask[:, 0] == 0
    foreground = mask[:, 0] == 1
    assert torch.equal(on_black.permute(1, 0, 2, 3)[:, background], torch.zeros(3, int(background.sum())))
    assert torch.equal(on_white.permute(1, 0, 2, 3)[:, background], torch.ones(3, int(background.sum())))
    torch.testing.assert_close(on_black.permute(1, 0, 2, 3)[:, foreground], on_white.permute(1, 0, 2, 3)[:, foreground])
    # The pixels where the head shows over either background are exactly the non-zero mask.
    covered = (on_black.amax(dim=1) > 0) | (on_white.amin(dim=1) < 1)
    assert torch.equal(covered, mask[:, 0] > 0)
    area = mask.mean(dim=(1, 2, 3))
    assert ((area > 0.15) & (area < 0.8)).all()


def test_mirrored_camera_sees_the_mirror_image_of_a_symmetric_head():
    heads = stack_params(_heads(5, 1, style=np.eye(len(HAIR_STYLES))[1], centre=np.array([0.0, 0.02, 0.15])))
    label = orbit_label(math.radians(50.0), math.radians(8.0))
    background = torch.zeros(1, 3, 48, 48)
    _, mask = render_heads(heads, label, 48, background)
    _, mirrored_mask = render_heads(heads, mirror_label(label), 48, background)
    assert (mask.flip(-1) - mirrored_mask).abs().mean() < 0.01


def test_front_and_back_views_of_a_head_differ():
    front = synthesize(9, range(3), SMALL, yaw=0.0, pitch=0.0)
    back = synthesize(9, range(3), SMALL, yaw=math.pi, pitch=0.0)
    inside = (front.masks > 0.99) & (back.masks > 0.99)
    difference = ((front.images - back.images).abs().amax(dim=1, keepdim=True) * inside).sum() / inside.sum()
    assert difference > 0.1


def test_yaw_modes_cover_the_circle_or_favour_the_front():
    def yaws(mode: str) -> np.ndarray:
        settings = SynthSettings(yaw_mode=mode)
        return np.array([float(sample_camera(np.random.default_rng([1, i]), settings)["yaw"]) for i in range(2000)])

    uniform, ffhq = np.abs(yaws("uniform")), np.abs(yaws("ffhq"))
    assert np.mean(uniform > math.pi / 2) == pytest.approx(0.5, abs=0.04)
    assert np.mean(ffhq < math.radians(45)) > 0.7
    assert 0.06 < np.mean(ffhq > math.pi / 2) < 0.2  # the long tail to the back


def test_jitter_moves_large_yaw_crops_but_not_labels():
    settings = SynthSettings(jitter=0.2, yaw_mode="uniform")
    for index in range(200):
        camera = sample_camera(np.random.default_rng([3, index]), settings)
        scale, dx, dy = camera["crop"]
        if abs(camera["yaw"]) < math.radians(60):
            assert (scale, dx, dy) == (1.0, 0.0, 0.0)
        assert abs(scale - 1) <= 0.2 and abs(dx) <= 0.1 and abs(dy) <= 0.1
    plain = synthesize(8, range(6), SynthSettings(resolution=24, yaw_mode="uniform"))
    jittered = synthesize(8, range(6), SynthSettings(resolution=24, yaw_mode="uniform", jitter=0.2))
    torch.testing.assert_close(plain.labels, jittered.labels)
    large = plain.yaws.abs() > math.radians(70)
    assert large.any() and (~large).any()
    changed = (plain.masks - jittered.masks).abs().flatten(1).amax(dim=1) > 0.5
    assert torch.equal(changed[~large], torch.zeros(int((~large).sum()), dtype=torch.bool))
    assert changed[large].all()


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="pitch range 30..-30"):
        SynthSettings(pitch_range=(30.0, -30.0))
    with pytest.raises(ValueError, match="yaw mode 'side'"):
        SynthSettings(yaw_mode="side")


def test_cli_synth_then_check(tmp_path):
    runner = CliRunner()
    out = tmp_path / "heads"
    result = runner.invoke(main, ["dataset", "synth", "--out", str(out), "--count", "3", "--resolution", "16",
                                  "--pitch-range", "-10,10", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 images" in result.output
    assert len(list((tmp_path / "heads_masks").glob("*.png"))) == 3
    result = runner.invoke(main, ["dataset", "check", str(out), "--full"])
    assert result.exit_code == 0, result.output
    assert "3 images, 16x16" in result.output and "yaw histogram" in result.output
    again = runner.invoke(main, ["dataset", "synth", "--out", str(out), "--count", "1", "--resolution", "16"])
    assert again.exit_code == 1 and "already exists" in again.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heads", "heads_masks"]


def test_cli_check_reports_a_broken_dataset_in_one_line(tmp_path):
    (tmp_path / "broken").mkdir()
    result = CliRunner().invoke(main, ["dataset", "check", str(tmp_path / "broken")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "dataset.json: missing" in result.output


def test_an_interrupted_write_leaves_nothing_behind(tmp_path):
    def fail(_):
        raise KeyboardInterrupt

    for name in ("heads", "heads.zip"):
        with pytest.raises(KeyboardInterrupt):
            write_synthetic_dataset(tmp_path / name, 4, settings=SynthSettings(resolution=16), batch_size=2, progress=fail)
    assert list(tmp_path.iterdir()) == []
