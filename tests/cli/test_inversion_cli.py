"""``panohead invert`` end to end on a tiny checkpoint, and its one-line errors."""

from __future__ import annotations

import csv

import imageio.v2 as imageio
import pytest
import trimesh
from click.testing import CliRunner
from export_models import tiny_generator_with_surface
from inversion_helpers import calibrated_tiny_generator, frontal_target

from panohead.checkpoint import load_generator, save_generator
from panohead.cli import main
from panohead.latent_file import read_latent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("invert")
    checkpoint = folder / "tiny.safetensors"
    save_generator(checkpoint, calibrated_tiny_generator())
    portrait, _ = frontal_target()
    photo = folder / "face.png"
    portrait.crop.save(photo)
    return folder, checkpoint, photo


def run(*args):
    return CliRunner().invoke(main, ["invert", *map(str, args)])


def test_invert_writes_latent_generator_previews_and_losses(files):
    folder, checkpoint, photo = files
    out = folder / "out"
    result = run(
        photo,
        "-c",
        checkpoint,
        "--yaw",
        0,
        "--steps",
        4,
        "--pti-steps",
        3,
        "--space",
        "w",
        "--device",
        "cpu",
        "--video-frames",
        4,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "pre-aligned image" in result.output and "stage 1" in result.output
    tuned = load_generator(out / "generator.safetensors")
    latent = read_latent(out / "latent.npz")
    assert latent["ws"].shape == (1, tuned.num_ws, 32) and str(latent["space"]) == "w"
    with open(out / "losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["stage"] for row in rows] == ["latent"] * 4 + ["pti"] * 3
    reader = imageio.get_reader(out / "turntable.mp4")
    assert reader.count_frames() == 4 and reader.get_meta_data()["size"] == (32, 32)
    for name in ("aligned.png", "reconstruction.png", "views.png"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob("*.partial*"))


def test_mesh_of_the_result_is_written_with_vertex_colours_and_video_can_be_skipped(files):
    folder, _, photo = files
    checkpoint = folder / "solid.safetensors"
    save_generator(checkpoint, tiny_generator_with_surface())
    out = folder / "mesh"
    result = run(
        photo,
        "-c",
        checkpoint,
        "--yaw",
        0,
        "--steps",
        2,
        "--pti-steps",
        1,
        "--video-frames",
        0,
        "--mesh",
        "ply",
        "--mesh-resolution",
        16,
        "--device",
        "cpu",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    mesh = trimesh.load(out / "mesh.ply", process=False)
    assert len(mesh.vertices) > 0 and mesh.visual.vertex_colors.shape == (len(mesh.vertices), 4)
    assert not (out / "turntable.mp4").exists()


def test_a_non_image_file_is_one_line_error(files):
    folder, checkpoint, _ = files
    text = folder / "readme.png"
    text.write_text("hello")
    result = run(text, "-c", checkpoint, "--yaw", 0)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {text}: not a readable image file (unrecognised format); use a jpg, png or webp photo"
    )


def test_no_camera_and_no_face_is_one_line_error_naming_the_file(files):
    from PIL import Image

    folder, checkpoint, small = files
    photo = folder / "face96.png"
    Image.open(small).resize((96, 96)).save(photo)  # large enough to be searched for a face
    result = run(photo, "-c", checkpoint, "-o", folder / "nothing")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith(f"Error: {photo}: ")
        and "no face found" in lines[0]
        and "--yaw" in lines[0]
    )


def test_no_align_without_a_camera_takes_the_photo_as_a_frontal_crop(files):
    folder, checkpoint, photo = files
    out = folder / "frontal"
    result = run(photo, "-c", checkpoint, "--no-align", "--steps", 1, "--pti-steps", 0, "--video-frames", 0, "-o", out)
    assert result.exit_code == 0, result.output
    assert "camera yaw 0.0, pitch 0.0 degrees" in result.output and "PTI skipped" in result.output


def test_a_bad_label_is_one_line_error(files):
    folder, checkpoint, photo = files
    result = run(photo, "-c", checkpoint, "--label", "1 2 3")
    assert result.exit_code == 1 and "has 3 numbers" in result.output


def test_ctrl_c_stops_early_and_still_writes_the_best_result(files, monkeypatch):
    import os
    import signal

    import panohead.cli.invert as invert_cli

    real = invert_cli.run_inversion

    def interrupted(generator, portrait, settings, perceptual, report, stop, encoder=None):
        def press_ctrl_c_at_step_two(progress):
            report(progress)
            if progress.step == 2:
                os.kill(os.getpid(), signal.SIGINT)

        return real(generator, portrait, settings, perceptual, press_ctrl_c_at_step_two, stop, encoder)

    monkeypatch.setattr(invert_cli, "run_inversion", interrupted)
    folder, checkpoint, photo = files
    out = folder / "stopped"
    result = run(
        photo,
        "-c",
        checkpoint,
        "--yaw",
        0,
        "--steps",
        50,
        "--pti-steps",
        20,
        "--video-frames",
        0,
        "--device",
        "cpu",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "stopped by Ctrl-C: writing the best result so far" in result.output
    with open(out / "losses.csv") as handle:
        assert len(list(csv.DictReader(handle))) < 50
    assert (out / "latent.npz").is_file() and (out / "generator.safetensors").is_file()


def test_cpu_defaults_are_announced_with_a_time_estimate_and_the_help_names_the_reopening_command(files):
    folder, checkpoint, photo = files
    result = run(photo, "-c", checkpoint, "--yaw", 0, "--video-frames", 0, "--device", "cpu", "-o", folder / "defaults")
    assert result.exit_code == 0, result.output
    assert "on cpu: 100 + 50 steps by default" in result.output
    assert "latent steps" in result.output and "stage 2 PTI: " in result.output and "min left" in result.output
    help_text = " ".join(run("--help").output.split())  # click wraps the help to the terminal width
    assert "visualizer.py -c OUT/generator.safetensors" in help_text and "panohead generate -c" not in help_text
