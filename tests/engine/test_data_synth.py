"""Synthetic heads: exact labels, masks that are the rendered silhouettes, determinism, camera distributions,
the face and hair features where they belong, and the tracing cost."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import panohead.data.synth as synth_module
from panohead.camera import DEFAULT_FOCAL, DEFAULT_RADIUS, label_to_orbit, mirror_label, split_label
from panohead.cli import main
from panohead.data.dataset import HeadDataset
from panohead.data.heads import OFF, bounds, head_parts, sample_head, scene_distance, stack_params, to_local
from panohead.data.sdf import Vec
from panohead.data.synth import SynthSettings, render_heads, sample_camera, synthesize, write_synthetic_dataset
from panohead.views.camera import orbit_camera

SMALL = SynthSettings(resolution=32, yaw_mode="uniform", pitch_range=(-30.0, 30.0))


@pytest.fixture(autouse=True)
def single_thread():
    """Render as ``synthesize`` does on the CPU, one op stream per core (intra-op threads of the many
    small ops collapse on a shared machine, see docs/performance.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_labels_round_trip_to_the_intended_yaw_and_pitch():
    batch = synthesize(7, range(5), SMALL)
    orbit = label_to_orbit(batch.labels)
    torch.testing.assert_close(torch.rad2deg(orbit.yaw), batch.yaws, atol=1e-3, rtol=0)
    torch.testing.assert_close(torch.rad2deg(orbit.pitch), batch.pitches, atol=1e-3, rtol=0)
    torch.testing.assert_close(orbit.radius, torch.full((5,), DEFAULT_RADIUS), atol=1e-5, rtol=0)
    torch.testing.assert_close(orbit.focal, torch.full((5,), DEFAULT_FOCAL))
    assert (batch.pitches.abs() <= 30.0).all()


def test_degrees_leave_the_datasets_as_session_4_drew_them_in_radians():
    """Labels of 48 heads (both yaw modes, jitter on) and 4 rendered heads, written by the radian API
    of session 4 (tests/engine/data/synth_session4.npz), are reproduced bit for bit."""
    reference = np.load(Path(__file__).parent / "data" / "synth_session4.npz")
    for mode in ("ffhq", "uniform"):
        batch = synthesize(4, range(24), SynthSettings(resolution=16, yaw_mode=mode, jitter=0.2))
        assert np.array_equal(batch.labels.numpy(), reference[f"{mode}_labels"]), mode
        assert batch.yaws.abs().max() <= 180.0 and batch.pitches.abs().max() <= 20.0
        if mode == "ffhq":
            assert np.array_equal(batch.images[:4].numpy(), reference["images"])
            assert np.array_equal(batch.masks[:4].numpy(), reference["masks"])


def test_written_labels_round_trip_through_the_reader(tmp_path):
    write_synthetic_dataset(tmp_path / "heads.zip", 3, seed=2, settings=SMALL)
    data = HeadDataset(tmp_path / "heads.zip")
    expected = synthesize(2, range(3), SMALL)
    torch.testing.assert_close(data.labels, expected.labels)
    assert (tmp_path / "heads_masks.zip").is_file()


def test_an_override_camera_gives_that_yaw():
    batch = synthesize(0, range(2), SMALL, yaw=-150.0, pitch=10.0)
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


def test_writing_over_several_devices_gives_the_same_files_as_one(tmp_path):
    """Batches go to the devices in turn; the files, their order and the labels do not change."""
    write_synthetic_dataset(tmp_path / "one", 5, seed=4, settings=SMALL, batch_size=5)
    write_synthetic_dataset(tmp_path / "two", 5, seed=4, settings=SMALL, device=["cpu", "cpu"], batch_size=2)
    for folder in ("one", "one_masks"):
        names = sorted(p.name for p in (tmp_path / folder).glob("*.png"))
        assert names == [f"img{i:08d}.png" for i in range(5)]
        other = folder.replace("one", "two")
        assert all((tmp_path / folder / n).read_bytes() == (tmp_path / other / n).read_bytes() for n in names)
    assert (tmp_path / "one" / "dataset.json").read_text() == (tmp_path / "two" / "dataset.json").read_text()


def test_the_next_batch_renders_while_the_last_one_is_encoded(tmp_path, monkeypatch):
    """Writing batch k waits until batch k + 1 has started rendering: it would time out if they ran in turn."""
    started = [threading.Event() for _ in range(3)]
    render = synth_module.synthesize

    def synthesize_and_signal(seed, indices, *args, **kwargs):
        started[indices[0] // 2].set()
        return render(seed, indices, *args, **kwargs)

    add_batch = synth_module.DatasetWriter.add_batch

    def add_batch_after_next_render(self, names, *args):
        number = int(names[0][3:11]) // 2
        if number + 1 < len(started):
            assert started[number + 1].wait(timeout=60), f"batch {number + 1} did not start while {number} was written"
        add_batch(self, names, *args)

    monkeypatch.setattr(synth_module, "synthesize", synthesize_and_signal)
    monkeypatch.setattr(synth_module.DatasetWriter, "add_batch", add_batch_after_next_render)
    write_synthetic_dataset(tmp_path / "heads", 6, settings=SynthSettings(resolution=8), batch_size=2)
    assert len(HeadDataset(tmp_path / "heads")) == 6


def _heads(seed: int, count: int, **changes) -> list[dict]:
    heads = [sample_head(np.random.default_rng([seed, i])) for i in range(count)]
    for head in heads:
        head.update(changes)
    return heads


def test_masks_are_the_rendered_silhouettes():
    """Over two different backgrounds: outside the mask the image is the background, inside it is the same head."""
    heads = stack_params(_heads(4, 2))
    labels = orbit_camera(torch.tensor([17.0, 160.0]), torch.tensor([5.7, -11.5]))
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
    heads = stack_params(_heads(5, 1, tail_off=OFF, curls=np.zeros(5), centre=np.array([0.0, 0.02, 0.15])))
    label = orbit_camera(50.0, 8.0)
    background = torch.zeros(1, 3, 48, 48)
    _, mask = render_heads(heads, label, 48, background)
    _, mirrored_mask = render_heads(heads, mirror_label(label), 48, background)
    assert (mask.flip(-1) - mirrored_mask).abs().mean() < 0.01


def test_front_and_back_views_of_a_head_differ():
    front = synthesize(9, range(3), SMALL, yaw=0.0, pitch=0.0)
    back = synthesize(9, range(3), SMALL, yaw=180.0, pitch=0.0)
    inside = (front.masks > 0.99) & (back.masks > 0.99)
    difference = ((front.images - back.images).abs().amax(dim=1, keepdim=True) * inside).sum() / inside.sum()
    assert difference > 0.1


def test_yaw_modes_cover_the_circle_or_favour_the_front():
    def yaws(mode: str) -> np.ndarray:
        settings = SynthSettings(yaw_mode=mode)
        return np.array([float(sample_camera(np.random.default_rng([1, i]), settings)["yaw"]) for i in range(2000)])

    uniform, ffhq = np.abs(yaws("uniform")), np.abs(yaws("ffhq"))
    assert uniform.max() <= 180.0 and np.mean(uniform > 90.0) == pytest.approx(0.5, abs=0.04)
    assert np.mean(ffhq < 45.0) > 0.7
    assert 0.06 < np.mean(ffhq > 90.0) < 0.2  # the long tail to the back


def test_jitter_moves_large_yaw_crops_but_not_labels():
    settings = SynthSettings(jitter=0.2, yaw_mode="uniform")
    for index in range(200):
        camera = sample_camera(np.random.default_rng([3, index]), settings)
        scale, dx, dy = camera["crop"]
        if abs(camera["yaw"]) < 60.0:
            assert (scale, dx, dy) == (1.0, 0.0, 0.0)
        assert abs(scale - 1) <= 0.2 and abs(dx) <= 0.1 and abs(dy) <= 0.1
    plain = synthesize(8, range(6), SynthSettings(resolution=24, yaw_mode="uniform"))
    jittered = synthesize(8, range(6), SynthSettings(resolution=24, yaw_mode="uniform", jitter=0.2))
    torch.testing.assert_close(plain.labels, jittered.labels)
    large, small = plain.yaws.abs() > 70.0, plain.yaws.abs() < 60.0
    assert large.any() and small.any()
    changed = (plain.masks - jittered.masks).abs().flatten(1).amax(dim=1) > 0.5
    assert torch.equal(changed[small], torch.zeros(int(small.sum()), dtype=torch.bool))
    assert changed[large].all()


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="pitch range 30..-30"):
        SynthSettings(pitch_range=(30.0, -30.0))
    with pytest.raises(ValueError, match="yaw mode 'side'"):
        SynthSettings(yaw_mode="side")


def test_cli_synth_then_check(tmp_path):
    runner = CliRunner()
    out = tmp_path / "heads"
    result = runner.invoke(
        main,
        [
            "dataset",
            "synth",
            "--out",
            str(out),
            "--count",
            "3",
            "--resolution",
            "16",
            "--pitch-range",
            "-10,10",
            "--device",
            "cpu",
        ],
    )
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
            write_synthetic_dataset(
                tmp_path / name, 4, settings=SynthSettings(resolution=16), batch_size=2, progress=fail
            )
    assert list(tmp_path.iterdir()) == []


def test_every_head_lies_inside_the_bounding_ellipsoids():
    """Rays start tracing where they enter the bounds, so any part of a head outside them would be cut off."""
    heads = stack_params(_heads(21, 96))
    generator = torch.Generator().manual_seed(0)
    count = 3000
    head_of_point = torch.arange(96).repeat_interleave(count)
    low, high = torch.tensor(synth_module.BOX_LOW), torch.tensor(synth_module.BOX_HIGH)
    points = Vec.of(low + (high - low) * torch.rand(96 * count, 3, generator=generator))
    prm = heads.take(head_of_point)
    inside = scene_distance(head_parts(points, prm)) < 0.003
    assert inside.sum() > 10000
    q = to_local(points, prm)
    covered = torch.zeros_like(inside)
    for centre, radii in bounds(prm):
        covered |= ((q - centre) / radii).norm() < 1.0
    assert covered[inside].all()


def _project(label: torch.Tensor, point: tuple[float, float, float], resolution: int) -> tuple[int, int]:
    """Pixel (row, column) of a world point seen by a (1, 25) camera (OpenCV axes: x right, y down, z forward)."""
    cam2world, intrinsics = split_label(label)
    camera = cam2world[0, :3, :3].T @ (torch.tensor(point) - cam2world[0, :3, 3])
    u = intrinsics[0, 0, 0] * camera[0] / camera[2] + intrinsics[0, 0, 2]
    v = intrinsics[0, 1, 1] * camera[1] / camera[2] + intrinsics[0, 1, 2]
    return int(v * resolution), int(u * resolution)


def _render_one(
    head: dict, yaw_degrees: float, resolution: int = 128
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(3, R, R) image and (R, R) mask of one head over mid grey, and its label."""
    label = orbit_camera(yaw_degrees)
    image, mask = render_heads(stack_params([head]), label, resolution, torch.full((1, 3, resolution, resolution), 0.5))
    return image[0], mask[0, 0], label


def _plain_head(**changes) -> dict:
    """A front-lit head with light skin, green hair, no hat, glasses or beard, centred and at scale 1."""
    head = sample_head(np.random.default_rng([3, 3]))
    head.update(
        centre=np.array([0.0, 0.02, 0.15]),
        scale=1.0,
        skin=np.array([0.9, 0.72, 0.6]),
        hair_colour=np.array([0.1, 0.6, 0.1]),
        hat=np.array([OFF, 0.09, 0.0, OFF]),
        glasses=np.array([OFF, 0.03, 0.0]),
        beard=np.array([OFF, 0.01, -0.03, OFF]),
        stubble=0.0,
        light=np.array([0.0, 0.5, 0.866]),
        expression=np.array([0.0, 0.0, OFF]),
        freckles=0.0,
    )
    head.update(changes)
    return head


def _world(head: dict, local: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(float(c + head["scale"] * x) for c, x in zip(head["centre"], local, strict=True))


def test_the_front_view_shows_pupils_and_whites_in_the_eyes():
    head = _plain_head()
    image, _, label = _render_one(head, 0.0)
    spacing, radius = head["eye"][0], head["eye"][1]
    pupil = image[(slice(None), *_project(label, _world(head, (spacing, 0.02, 0.143 + radius)), 128))]
    white = image[
        (slice(None), *_project(label, _world(head, (spacing + 0.8 * radius, 0.02, 0.143 + 0.6 * radius)), 128))
    ]
    cheek = image[(slice(None), *_project(label, _world(head, (spacing, -0.045, 0.17)), 128))]
    assert pupil.mean() < 0.5 * cheek.mean()
    assert white.mean() > pupil.mean() + 0.2
    assert (white[2] - white[0]) > (cheek[2] - cheek[0]) + 0.05  # white is not skin-coloured (less red)


def test_hair_covers_the_back_of_the_head_unless_bald():
    hair_pixel = _project(orbit_camera(180.0), (0.0, 0.12, -0.1), 128)
    hairy, _, _ = _render_one(_plain_head(), 180.0)
    bald, _, _ = _render_one(_plain_head(hair_off=OFF, buzz=0.0), 180.0)
    assert hairy[1, hair_pixel[0], hair_pixel[1]] > 1.5 * hairy[0, hair_pixel[0], hair_pixel[1]]  # green hair
    assert bald[0, hair_pixel[0], hair_pixel[1]] > bald[1, hair_pixel[0], hair_pixel[1]]  # skin: red above green


def test_ears_stick_out_beside_a_bald_head():
    head = _plain_head(hair_off=OFF, buzz=0.0, ear=np.array([1.1, 0.3]))
    _, mask, label = _render_one(head, 0.0)
    ear = _project(label, _world(head, (0.158, -0.005, -0.01)), 128)
    above_ear = _project(label, _world(head, (0.158, -0.1, -0.01)), 128)
    assert mask[ear] == 1.0 and mask[above_ear] == 0.0


@pytest.mark.parametrize(
    "feature, changes, local",
    [
        ("glasses", {"glasses": np.array([0.0, 0.03, 1.0])}, (0.048, 0.02, 0.2)),
        ("hat", {"hat": np.array([0.0, 0.085, 0.0, 0.0])}, (0.0, 0.14, 0.16)),
        ("beard", {"beard": np.array([0.0, 0.012, -0.03, 0.0])}, (0.03, -0.15, 0.16)),
        ("open mouth", {"expression": np.array([0.5, 0.012, 0.0])}, (0.0, -0.112, 0.18)),
    ],
)
def test_accessories_and_expressions_change_their_region(feature, changes, local):
    plain = _plain_head()
    image, _, label = _render_one(plain, 0.0)
    changed, _, _ = _render_one(_plain_head(**changes), 0.0)
    row, column = _project(label, _world(plain, local), 128)
    region = (slice(None), slice(row - 2, row + 3), slice(column - 2, column + 3))
    assert (image[region] - changed[region]).abs().mean() > 0.1, feature


def test_tracing_cost_per_pixel_stays_bounded(monkeypatch):
    """Distance evaluations per pixel (tracing and shading), a deterministic stand-in for speed."""
    evaluated = []
    original = synth_module.head_parts
    monkeypatch.setattr(synth_module, "head_parts", lambda p, prm: evaluated.append(p.x.numel()) or original(p, prm))
    synthesize(0, range(4), SynthSettings(resolution=64))
    assert sum(evaluated) / (4 * 64 * 64) < 14  # 12.5 now; the simpler heads before them took 14.0


def test_cli_synth_refuses_more_gpus_than_it_has(tmp_path):
    result = CliRunner().invoke(
        main, ["dataset", "synth", "--out", str(tmp_path / "x"), "--count", "1", "--gpus", "2", "--device", "cpu"]
    )
    assert result.exit_code == 2 and "--gpus 2 needs --device cuda and 2 visible GPUs" in result.output
    assert list(tmp_path.iterdir()) == []
