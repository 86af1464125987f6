"""Mesh export: marching cubes on a density grid, vertex colours, files that reload, nothing partial."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
import trimesh
from export_models import SphereField, TwoSpheresField, tiny_generator_with_surface

from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import extract_mesh, sample_density, save_density, save_mesh
from panohead.export.tasks import ExportCancelled


@pytest.fixture(scope="module")
def tiny():
    return tiny_generator_with_surface()


def test_sphere_mesh_is_watertight_with_radius_within_one_voxel():
    mesh = extract_mesh(SphereField(0.3), resolution=48)
    voxel = 1.0 / 47
    distances = np.linalg.norm(mesh.vertices, axis=1)
    assert mesh.is_watertight
    assert np.abs(distances - 0.3).max() < voxel
    # Outward normals: positive enclosed volume, within 2% of 4/3 pi r^3.
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * 0.3**3, rel=0.02)


def test_sphere_cut_by_the_box_is_still_closed():
    mesh = extract_mesh(SphereField(0.6), resolution=24)
    assert mesh.is_watertight
    assert mesh.bounds[1] == pytest.approx([0.5, 0.5, 0.5], abs=1.0 / 23)


def test_vertex_colours_are_read_from_the_field_at_each_vertex():
    mesh = extract_mesh(SphereField(0.3), resolution=24)
    expected = np.round(np.clip(mesh.vertices + 0.5, 0, 1) * 255)
    assert np.abs(mesh.visual.vertex_colors[:, :3] - expected).max() <= 1
    assert (mesh.visual.vertex_colors[:, 3] == 255).all()


def test_largest_component_drops_the_floater():
    kept = extract_mesh(TwoSpheresField(), resolution=40)
    everything = extract_mesh(TwoSpheresField(), resolution=40, largest_component=False)
    assert kept.vertices[:, 0].max() < 0.15
    assert everything.vertices[:, 0].max() > 0.35
    assert len(everything.split(only_watertight=False)) == 2 and len(kept.split(only_watertight=False)) == 1


def test_smoothing_keeps_the_sphere_radius():
    mesh = extract_mesh(SphereField(0.3), resolution=32, smooth=10)
    assert np.linalg.norm(mesh.vertices, axis=1).mean() == pytest.approx(0.3, abs=1.0 / 31)


def test_density_grid_axes_are_x_y_z_over_the_whole_box():
    grid = sample_density(SphereField(0.2, centre=(0.25, 0.0, 0.0)), resolution=11, chunk=100)
    assert grid.values.shape == (11, 11, 11) and grid.lower == -0.5 and grid.spacing == pytest.approx(0.1)
    peak = np.unravel_index(grid.values.argmax(), grid.values.shape)
    assert peak == (7, 5, 5)  # x = -0.5 + 7 * 0.1 = 0.2 is the lattice point nearest the centre 0.25


def test_progress_rises_to_one_and_cancel_stops_the_extraction():
    fractions: list[float] = []
    extract_mesh(SphereField(0.3), resolution=16, chunk=512, progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 5
    cancel = threading.Event()
    with pytest.raises(ExportCancelled):
        extract_mesh(
            SphereField(0.3), resolution=16, chunk=512, progress=lambda f: f > 0.3 and cancel.set(), cancel=cancel
        )


def test_no_surface_is_a_one_line_error_naming_the_threshold():
    with pytest.raises(ValueError, match=r"never reaches the threshold 50 \(its maximum is 22\)") as error:
        extract_mesh(SphereField(0.3), resolution=17, threshold=50.0)  # 17: the centre is a sample
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("file_format", ["ply", "obj", "glb"])
def test_tiny_model_mesh_reloads_with_same_vertices_and_colours(tiny, tmp_path, file_format):
    mesh = extract_mesh(HeadField(tiny, head_from_seed(tiny, 1)), resolution=24)
    path = tmp_path / f"head.{file_format}"
    save_mesh(mesh, path)
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(mesh.vertices) > 1000
    assert len(loaded.vertices) == len(mesh.vertices) and len(loaded.faces) == len(mesh.faces)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.visual.vertex_colors, mesh.visual.vertex_colors)
    assert len(np.unique(mesh.visual.vertex_colors[:, :3], axis=0)) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_head_mesh_lies_in_the_tri_grid_box_inside_the_renderer_crop(tiny):
    mesh = extract_mesh(HeadField(tiny, head_from_seed(tiny, 1)), resolution=24)
    half = tiny.config.box_warp / 2
    crop = half - tiny.config.crop_margin
    voxel = 2 * half / 23
    assert np.abs(mesh.vertices[:, [0, 2]]).max() <= crop + voxel
    assert np.abs(mesh.vertices[:, 1]).max() <= half + voxel


def test_background_network_does_not_change_the_mesh(tiny):
    head = head_from_seed(tiny, 1)
    before = extract_mesh(HeadField(tiny, head), resolution=16)
    saved = {k: v.clone() for k, v in tiny.background.state_dict().items()}
    try:
        with torch.no_grad():
            for parameter in tiny.background.parameters():
                parameter.add_(torch.randn_like(parameter))
        after = extract_mesh(HeadField(tiny, head), resolution=16)
    finally:
        tiny.background.load_state_dict(saved)
    np.testing.assert_array_equal(before.vertices, after.vertices)
    np.testing.assert_array_equal(before.visual.vertex_colors, after.visual.vertex_colors)


def test_vertex_colour_is_the_raw_to_rgb_of_the_point_features(tiny):
    head = head_from_seed(tiny, 1)
    points = torch.rand(1, 50, 3) - 0.5
    features = tiny.sample(head.planes, points)["features"]
    image = features.transpose(1, 2).reshape(1, -1, 5, 10)
    expected = tiny.to_rgb(image, head.ws).reshape(1, 3, 50).transpose(1, 2)
    torch.testing.assert_close(tiny.feature_rgb(features, head.ws), expected)
    torch.testing.assert_close(HeadField(tiny, head).colour(points[0]), ((expected[0] + 1) / 2).clamp(0, 1))


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    mesh = extract_mesh(SphereField(0.3), resolution=12)

    def half_written(self, file_obj, file_type):
        open(file_obj, "wb").write(b"ply\nformat binary")
        raise OSError("disk full")

    monkeypatch.setattr(trimesh.Trimesh, "export", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_mesh(mesh, tmp_path / "head.ply")
    assert list(tmp_path.iterdir()) == []


def test_unknown_mesh_format_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"head\.stl: unknown mesh format 'stl'; use \.ply, \.obj or \.glb"):
        save_mesh(extract_mesh(SphereField(0.3), resolution=12), tmp_path / "head.stl")
    assert list(tmp_path.iterdir()) == []


def test_density_volume_round_trips_as_npy(tmp_path):
    grid = sample_density(SphereField(0.3), resolution=12)
    save_density(grid, tmp_path / "density.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "density.npy"), grid.values)
