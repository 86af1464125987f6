"""Textured meshes: the rasteriser's coverage, decimation, a baked colour field, and .glb / .obj files that reload."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
import xatlas
from export_models import RADIUS, SphereField, sphere_view, sphere_views
from PIL import Image

from panohead.export.mesh import extract_mesh
from panohead.export.raster import rasterize, render_depth
from panohead.export.texture import (
    CHART_PADDING,
    TextureSettings,
    decimate,
    save_textured_mesh,
    start_unwrap,
    texture_mesh,
)
from panohead.views.camera import orbit_camera

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def sphere_mesh() -> trimesh.Trimesh:
    return extract_mesh(SphereField(RADIUS), 40)


def test_rasteriser_covers_exactly_the_pixel_centres_inside_a_triangle():
    # Corners (0, 0), (8, 0), (0, 8): centres (j + 0.5, i + 0.5) with i + j <= 7 are inside, 36 of them.
    fragments = rasterize(torch.tensor([[[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]]]), torch.ones(1, 3), 16, 16)
    rows, columns = fragments.covered.nonzero().unbind(1)
    assert len(rows) == 36 and int((rows + columns).max()) == 7
    assert torch.allclose(fragments.bary.sum(-1)[fragments.covered], torch.ones(36))


def test_mesh_depth_matches_the_sphere_in_front_of_the_camera(sphere_mesh):
    label = orbit_camera(0.0, look_at=(0.0, 0.0, 0.0))
    fragments = render_depth(
        torch.as_tensor(sphere_mesh.vertices, dtype=torch.float32), torch.as_tensor(sphere_mesh.faces), label, 64
    )
    assert abs(float(fragments.depth[32, 32]) - (2.7 - RADIUS)) < 0.01
    assert fragments.covered.sum() == pytest.approx(float(sphere_view(label).mask.sum()), rel=0.05)


def test_decimation_meets_the_face_budget_and_keeps_the_surface_closed(sphere_mesh):
    simple = decimate(sphere_mesh, 500)
    assert 450 <= len(simple.faces) <= 500 < len(sphere_mesh.faces)
    assert simple.is_watertight


def test_the_unwrap_in_its_child_process_is_xatlas_own_atlas(sphere_mesh):
    simple = decimate(sphere_mesh, 500)
    unwrapped, uv = start_unwrap(simple, 256).result()
    atlas = xatlas.Atlas()
    atlas.add_mesh(simple.vertices.astype(np.float32), simple.faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear = 256, CHART_PADDING, True
    atlas.generate(pack_options=pack)
    vmapping, indices, uvs = atlas[0]
    assert np.array_equal(unwrapped.faces, indices) and np.array_equal(unwrapped.vertices, simple.vertices[vmapping])
    np.testing.assert_array_equal(uv, np.clip(uvs.astype(np.float64), 0.0, 1.0))


def test_the_unwrap_child_imports_xatlas_from_this_process_module_path(sphere_mesh, tmp_path, monkeypatch):
    """A package found only through this process's path (PYTHONPATH, a user site, an added folder) is
    found by the child too: here a stand-in xatlas on an added folder, which the child must import."""
    (tmp_path / "xatlas.py").write_text("raise SystemExit('stand-in xatlas imported from the parent path')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="stand-in xatlas imported from the parent path"):
        start_unwrap(decimate(sphere_mesh, 500), 64).result()


def test_baked_texture_shows_the_colour_field_where_the_mesh_is(sphere_mesh, tmp_path):
    textured = texture_mesh(sphere_mesh, sphere_views(), TextureSettings(faces=2000, size=256))
    save_textured_mesh(textured, tmp_path / "ball.glb")
    loaded = trimesh.load(tmp_path / "ball.glb", force="mesh", process=False)
    texture = np.asarray(loaded.visual.material.baseColorTexture.convert("RGB"), dtype=np.float32) / 255
    uv = loaded.visual.uv
    size = texture.shape[0]
    # the colour each vertex gets from the texture, vs the field's colour at that point
    pixels = np.clip(np.stack([uv[:, 0], 1 - uv[:, 1]], -1) * size, 0, size - 1).astype(int)
    baked = texture[pixels[:, 1], pixels[:, 0]]
    truth = SphereField(RADIUS).colour(torch.as_tensor(loaded.vertices, dtype=torch.float32)).numpy()
    error = np.abs(baked - truth)
    assert error.mean() < 0.02 and np.percentile(error, 99) < 0.08


def test_textured_glb_reloads_with_uvs_in_the_unit_square_and_a_texture(sphere_mesh, tmp_path):
    textured = texture_mesh(sphere_mesh, [], TextureSettings(faces=300, size=256), fallback=SphereField(RADIUS))
    assert save_textured_mesh(textured, tmp_path / "ball.glb") == [tmp_path / "ball.glb"]
    loaded = trimesh.load(tmp_path / "ball.glb", force="mesh", process=False)
    assert len(loaded.faces) == len(textured.faces) <= 300
    assert loaded.visual.uv.shape == (len(loaded.vertices), 2)
    assert loaded.visual.uv.min() >= 0 and loaded.visual.uv.max() <= 1
    assert loaded.visual.material.baseColorTexture.size == (256, 256)


def test_textured_obj_writes_a_material_and_png_that_reload(sphere_mesh, tmp_path):
    textured = texture_mesh(sphere_mesh, [], TextureSettings(faces=300, size=256), fallback=SphereField(RADIUS))
    written = save_textured_mesh(textured, tmp_path / "ball.obj")
    assert sorted(p.name for p in written) == ["ball.mtl", "ball.obj", "ball.png"]
    assert "map_Kd ball.png" in (tmp_path / "ball.mtl").read_text()
    loaded = trimesh.load(tmp_path / "ball.obj", force="mesh", process=False)
    assert loaded.visual.uv.min() >= 0 and loaded.visual.uv.max() <= 1
    assert np.asarray(loaded.visual.material.image).shape[:2] == (256, 256)
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "ball.png").convert("RGB")),
        np.asarray(textured.visual.material.image.convert("RGB")),
    )


def test_the_exported_file_renders_like_the_pictures_it_was_baked_from(sphere_mesh, tmp_path):
    from panohead.export.assets import load_asset

    views = sphere_views()
    save_textured_mesh(texture_mesh(sphere_mesh, views, TextureSettings(faces=2000, size=256)), tmp_path / "ball.glb")
    asset = load_asset(tmp_path / "ball.glb")
    for view in (views[0], views[6]):  # front and back
        image, alpha = asset.render(view.label, 64, supersample=2)
        inside = (view.mask > 0.5) & (alpha > 0.99)
        assert inside.sum() > 0.9 * (view.mask > 0.5).sum()
        assert (image - view.image)[inside].abs().mean() < 0.02


def test_an_asset_must_be_a_textured_mesh_or_splats(sphere_mesh, tmp_path):
    from panohead.export.assets import load_asset

    sphere_mesh.export(tmp_path / "plain.glb")
    with pytest.raises(ValueError, match="plain.glb: the mesh has no UV texture"):
        load_asset(tmp_path / "plain.glb")
    with pytest.raises(ValueError, match="x.stl: not an exported asset"):
        load_asset(tmp_path / "x.stl")
