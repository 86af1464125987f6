"""``panohead mesh`` and ``panohead video``: files written, one-line errors, nothing partial left."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner
from export_models import tiny_column_generator, tiny_generator_with_surface

from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.export.splat import load_splat


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(path, tiny_generator_with_surface())
    return str(path)


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_mesh_command_writes_the_mesh_and_the_density_volume(checkpoint, tmp_path):
    result = run(
        "mesh",
        "-c",
        checkpoint,
        "--seed",
        "1",
        "--resolution",
        "20",
        "--format",
        "glb",
        "--volume",
        "--device",
        "cpu",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0001.glb", "seed0001_density.npy"]
    mesh = trimesh.load(tmp_path / "seed0001.glb", force="mesh", process=False)
    assert f"wrote {tmp_path / 'seed0001.glb'} ({len(mesh.vertices)} vertices" in result.output
    assert mesh.visual.vertex_colors.shape == (len(mesh.vertices), 4)
    assert np.load(tmp_path / "seed0001_density.npy").shape == (20, 20, 20)


def test_video_command_writes_a_grid_turntable(checkpoint, tmp_path):
    result = run(
        "video",
        "-c",
        checkpoint,
        "--seeds",
        "0-1",
        "--frames",
        "3",
        "--view",
        "raw",
        "--resolution",
        "32",
        "--device",
        "cpu",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    reader = imageio.get_reader(tmp_path / "turntable_seed0-1.mp4")
    assert reader.count_frames() == 3 and reader.get_meta_data()["size"] == (64, 32)


def test_generate_command_writes_a_seeds_by_yaws_grid_with_labels_unless_told_not_to(checkpoint, tmp_path):
    result = run(
        "generate",
        "-c",
        checkpoint,
        "--seeds",
        "0-2",
        "--yaws",
        "0,180",
        "--device",
        "cpu",
        "--no-labels",
        "-o",
        str(tmp_path / "bare"),
    )
    assert result.exit_code == 0, result.output
    bare = imageio.imread(tmp_path / "bare" / "grid.png")
    assert bare.shape == (3 * 32, 2 * 32, 3)  # rows: seeds, columns: yaws
    result = run(
        "generate", "-c", checkpoint, "--seeds", "0-2", "--yaws", "0,180", "--device", "cpu", "-o", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    labelled = imageio.imread(tmp_path / "grid.png").astype(int)
    top, left = labelled.shape[0] - 3 * 32, labelled.shape[1] - 2 * 32
    assert 8 <= top <= 32 and 30 <= left <= 80  # a band above for "yaw 0" / "yaw 180", one left for "seed N"
    assert np.array_equal(labelled[top:, left:], bare)  # the pictures themselves are untouched
    header, side = labelled[:top, left:], labelled[top:, :left]
    for band, cells in ((header[:, :32], 1), (header[:, 32:], 1), (side[:32], 1), (side[64:], 1)):
        dark = (band.sum(axis=-1) < 200).sum()
        assert dark >= 10 * cells  # black text on each label's white band
    assert (labelled[:top, :left] == 255).all()  # the corner stays blank


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["mesh", "--seed", "5-2"], "range '5-2' runs backwards (use 2-5)"),
        (["video", "--seeds", "5-2"], "range '5-2' runs backwards (use 2-5)"),
        (["generate", "--seeds", "5-2"], "range '5-2' runs backwards (use 2-5)"),
        (["mesh", "--format", "stl"], "'stl' is not one of 'ply', 'obj', 'glb'"),
        (["video", "--format", "avi"], "'avi' is not one of 'mp4', 'gif'"),
        (["mesh", "-c", "{tmp}/missing.safetensors"], "missing.safetensors: checkpoint file not found"),
        (["video", "-c", "{tmp}/missing.safetensors"], "missing.safetensors: checkpoint file not found"),
        (["mesh", "-o", "{tmp}/a_file/out"], "a_file/out: cannot create output folder"),
        (["video", "--resolution", "33"], "resolution must be an even number of pixels from 16 to 2048, got 33"),
    ],
)
def test_bad_input_prints_one_error_line_and_fails(tmp_path, args, culprit):
    (tmp_path / "a_file").write_text("not a folder")
    result = run(*[arg.replace("{tmp}", str(tmp_path)) for arg in args], "--device", "cpu")
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert culprit in result.stderr


def test_mesh_without_a_surface_fails_and_leaves_the_folder_empty(checkpoint, tmp_path):
    result = run(
        "mesh",
        "-c",
        checkpoint,
        "--resolution",
        "12",
        "--threshold",
        "1e6",
        "--volume",
        "--device",
        "cpu",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 1
    assert "never reaches the threshold 1e+06" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("single_thread")
def test_mesh_texture_writes_an_obj_with_its_material_and_texture(checkpoint, tmp_path):
    result = run(
        "mesh",
        "-c",
        checkpoint,
        "--seed",
        "1",
        "--resolution",
        "20",
        "--texture",
        "--faces",
        "300",
        "--texture-size",
        "256",
        "--format",
        "obj",
        "--device",
        "cpu",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0001.mtl", "seed0001.obj", "seed0001.png"]
    mesh = trimesh.load(tmp_path / "seed0001.obj", force="mesh", process=False)
    assert len(mesh.faces) <= 300 and mesh.visual.uv.shape == (len(mesh.vertices), 2)
    assert (
        f"wrote {tmp_path / 'seed0001.obj'}, seed0001.png + seed0001.mtl ({len(mesh.vertices)} vertices"
        in result.output
    )


def test_mesh_texture_refuses_ply(tmp_path):
    result = run("mesh", "--texture", "--format", "ply", "--device", "cpu", "-o", str(tmp_path))
    assert result.exit_code != 0 and "ply cannot hold a texture; use glb or obj" in result.stderr


@pytest.mark.usefixtures("single_thread")
def test_splat_command_writes_a_3dgs_ply(checkpoint, tmp_path):
    result = run(
        "splat",
        "-c",
        checkpoint,
        "--seed",
        "2",
        "--gaussians",
        "100",
        "--steps",
        "2",
        "--resolution",
        "20",
        "--device",
        "cpu",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    gaussians = load_splat(tmp_path / "seed0002_splat.ply")
    assert f"wrote {tmp_path / 'seed0002_splat.ply'} ({len(gaussians)} Gaussians" in result.output
    assert 0 < len(gaussians) <= 100


@pytest.mark.usefixtures("single_thread")
def test_splat_background_is_a_second_set_that_completes_the_picture(tmp_path):
    """Head and backdrop reload as two 3DGS files; together they match the generator's whole picture
    (head in front of its background) from held-out cameras better than the head alone."""
    checkpoint = str(tmp_path / "column.safetensors")
    save_generator(checkpoint, tiny_column_generator())
    from panohead.checkpoint import load_generator
    from panohead.export.gaussians import Gaussians, render_gaussians
    from panohead.export.heads import head_from_seed
    from panohead.export.views import HELD_OUT_ORBIT, generator_views, orbit_views

    result = run(
        *("splat", "-c", checkpoint, "--seed", "2", "--gaussians", "300", "--steps", "80", "--resolution", "20"),
        *("--background", "500", "--device", "cpu", "-o", str(tmp_path / "out")),
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["seed0002_splat.ply", "seed0002_splat_background.ply"]
    head, backdrop = load_splat(out / "seed0002_splat.ply"), load_splat(out / "seed0002_splat_background.ply")
    assert f"({len(backdrop)} Gaussians of the background)" in result.output and len(backdrop) > 100
    generator = load_generator(checkpoint)
    radius = generator.config.camera_radius
    distances = (backdrop.means - torch.tensor(generator.config.look_at)).norm(dim=-1)
    assert distances.min() > radius  # the backdrop lies outside the cameras' orbit
    both = Gaussians(**{k: torch.cat([v, backdrop.parameters()[k]]) for k, v in head.parameters().items()})
    targets = generator_views(
        generator, head_from_seed(generator, 2), orbit_views(generator, HELD_OUT_ORBIT), with_background=True
    )

    def error(gaussians):  # mean absolute error where the generator and the head's set show the background
        total = []
        for view in targets:
            size = view.image.shape[0]
            behind = (view.mask < 0.5) & (render_gaussians(head, view.label, size)[1] < 0.5)
            total.append(float((render_gaussians(gaussians, view.label, size)[0] - view.image).abs()[behind].mean()))
        return np.mean(total)

    alone, together = error(head), error(both)
    assert together < 0.6 * alone, (alone, together)  # measured 0.52 -> 0.26
