"""The Export panel in a real window: meshes and turntables of the head on screen, on a worker thread.

Uses the GUI suite's tiny model whose density is an opaque column (|x|, |z| <= 0.2, full height).
"""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh

pytestmark = pytest.mark.gui


def run_until_finished(app, task, timeout: float = 120.0) -> int:
    """Step UI frames until the export ends; returns how many frames the UI drew meanwhile."""
    frames = 0
    while task.running:
        app.step_frame(wait=0.01)
        frames += 1
        assert frames < timeout * 100, "the export did not finish"
    app.step_frame()
    return frames


def exported_files(app):
    from pathlib import Path

    folder = Path(app.state.capture.folder)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_mesh_export_writes_the_coloured_column_while_the_ui_keeps_drawing(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.select_tab = "Output"  # draw the panel, progress bar included
    app.set_state(export={"mesh_resolution": 64, "mesh_format": "glb"})
    task = app.panel(ExportWidget).export_mesh()
    frames = run_until_finished(app, task)
    assert task.status == "done", task.error
    assert frames >= 3  # the UI thread never waited for the export
    assert exported_files(app) == ["mesh_seed0000_64.glb"]
    mesh = trimesh.load(task.value, force="mesh", process=False)
    voxel = 1.0 / 63
    np.testing.assert_allclose(mesh.bounds, [[-0.2, -0.5, -0.2], [0.2, 0.5, 0.2]], atol=1.5 * voxel)
    assert mesh.is_watertight and mesh.visual.vertex_colors.shape == (len(mesh.vertices), 4)
    assert any(m.text == f"exported {task.value}" for m in app.messages())


def test_cancelling_an_export_leaves_no_file(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.set_state(export={"mesh_resolution": 512})
    widget = app.panel(ExportWidget)
    task = widget.export_mesh()
    widget.cancel()
    run_until_finished(app, task)
    assert task.status == "cancelled"
    assert exported_files(app) == []
    assert any(m.text == "export cancelled; nothing was written" for m in app.messages())


def test_turntable_export_has_the_requested_frames(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.set_state(export={"frames": 8, "video_format": "gif", "video_view": "mask"})
    task = app.panel(ExportWidget).export_video()
    run_until_finished(app, task)
    assert task.status == "done", task.error
    frames = iio.imread(task.value, index=None)
    assert frames.shape == (8, 16, 16, 3)  # the mask view's native size: the neural resolution
    grey = frames[..., 0].reshape(8, -1)
    assert grey.max(axis=1).min() > 200 and grey.min(axis=1).max() < 60  # each frame: opaque column, empty sides


def test_an_export_without_surface_reports_one_line(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.set_state(export={"mesh_resolution": 64, "threshold": 500.0})
    task = app.panel(ExportWidget).export_mesh()
    run_until_finished(app, task)
    assert task.status == "failed" and "\n" not in task.error
    assert task.error.startswith("no surface: the density never reaches the threshold 500")
    assert exported_files(app) == []


def test_open_folder_shows_the_exported_file_in_the_file_manager(app, monkeypatch):
    import viz.export_widget as export_widget

    launched = []
    monkeypatch.setattr(export_widget, "launch", launched.append)
    app.wait_idle()
    app.set_state(export={"mesh_resolution": 64})
    widget = app.panel(export_widget.ExportWidget)
    run_until_finished(app, widget.export_mesh())
    widget.open_folder()
    assert launched == [["xdg-open", str(widget.task.value.parent)]]


@pytest.mark.usefixtures("single_thread")
def test_textured_mesh_export_writes_a_glb_with_a_texture_of_the_asked_size(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.select_tab = "Output"
    app.set_state(
        export={
            "mesh_resolution": 64,
            "mesh_format": "glb",
            "mesh_texture": True,
            "mesh_faces": 1000,
            "texture_size": 256,
        }
    )
    widget = app.panel(ExportWidget)
    try:
        task = widget.export_mesh()
        run_until_finished(app, task)
    finally:
        app.set_state(export={"mesh_texture": False})
    assert task.status == "done", task.error
    assert task.value is None and exported_files(app) == []  # baked for the preview, not written yet
    task = widget.save()
    run_until_finished(app, task)
    assert task.status == "done", task.error
    assert task.value.name == "mesh_seed0000_64_textured.glb" and exported_files(app) == [task.value.name]
    mesh = trimesh.load(task.value, force="mesh", process=False)
    assert len(mesh.faces) <= 1000 and mesh.visual.uv.min() >= 0 and mesh.visual.uv.max() <= 1
    assert mesh.visual.material.baseColorTexture.size == (256, 256)


def test_a_texture_cannot_go_into_a_ply(app):
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.set_state(export={"mesh_format": "ply", "mesh_texture": True})
    try:
        assert app.panel(ExportWidget).export_mesh() is None
    finally:
        app.set_state(export={"mesh_texture": False})
    assert any(m.text == ".ply cannot hold a texture: choose .glb or .obj" for m in app.messages())


@pytest.mark.usefixtures("single_thread")
def test_splat_export_writes_a_3dgs_ply(app):
    from panohead.export.splat import load_splat
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.set_state(export={"splat_gaussians": 200, "splat_steps": 3})
    widget = app.panel(ExportWidget)
    run_until_finished(app, widget.export_splat())
    assert exported_files(app) == []  # fitted for the preview, not written yet
    task = widget.save()
    run_until_finished(app, task)
    assert task.status == "done", task.error
    gaussians = load_splat(task.value)
    assert task.value.name == f"splat_seed0000_{len(gaussians)}.ply" and 0 < len(gaussians) <= 200
    # seeded on the column |x|, |z| <= 0.2
    assert gaussians.means[:, [0, 2]].abs().max() < 0.25


@pytest.mark.usefixtures("single_thread")
def test_splats_with_the_background_preview_both_sets_and_save_them_as_two_files(app):
    from panohead.export.splat import BACKGROUND_RADIUS, background_path, load_splat
    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.select_tab = "Output"
    app.set_state(
        export={
            "splat_gaussians": 200,
            "splat_steps": 3,
            "splat_background": True,
            "splat_background_gaussians": 300,
        }
    )
    widget = app.panel(ExportWidget)
    run_until_finished(app, widget.export_splat())
    assert widget.pending is not None and exported_files(app) == []
    for _ in range(3000):  # the preview renders on its own thread
        app.step_frame(wait=0.01)
        if widget.preview_image is not None:
            break
    corners = widget.preview_image[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.max() > 0.05  # the backdrop behind the column, not black
    task = widget.save()
    run_until_finished(app, task)
    assert task.status == "done", task.error
    head, backdrop = load_splat(task.value), load_splat(background_path(task.value))
    assert exported_files(app) == sorted([task.value.name, background_path(task.value).name])
    assert background_path(task.value).name == task.value.stem + "_background.ply"
    assert 0 < len(head) <= 200 and len(backdrop) > 200
    assert len(widget.pending.asset.gaussians) == len(head) + len(backdrop)  # the preview showed both
    assert head.means[:, [0, 2]].abs().max() < 0.25  # on the column |x|, |z| <= 0.2
    config = widget.pending.config
    distance = (backdrop.means - torch.tensor(config.look_at)).norm(dim=-1)
    np.testing.assert_allclose(distance.numpy(), BACKGROUND_RADIUS * config.camera_radius, rtol=0.02)


@pytest.mark.usefixtures("single_thread")
def test_the_preview_shows_the_fitted_splats_from_the_live_camera_before_save_writes_them(app, monkeypatch):
    from gui_input import ItemRecorder, click
    from imgui_bundle import imgui

    from panohead.export.assets import load_asset
    from viz.export_widget import PREVIEW_SIZE, ExportWidget

    def next_preview(widget, before):
        for _ in range(3000):
            app.step_frame(wait=0.01)
            if widget.preview_image is not None and widget.preview_image is not before:
                return widget.preview_image
        raise AssertionError("no preview came")

    def expected(asset):
        return asset.render(app.state.edit.camera.config_label(widget.pending.config, "cpu"), PREVIEW_SIZE, 2)[
            0
        ].numpy()

    panes = []  # where the preview texture was drawn, each frame

    def drawn(texture, size, *args, **kwargs):
        image(texture, size, *args, **kwargs)
        if texture.get_tex_id() == widget._preview_texture.id:
            low, high = imgui.get_item_rect_min(), imgui.get_item_rect_max()
            panes.append((low.x, low.y, high.x, high.y))

    def pane(frame):  # the framebuffer pixels of the preview image on screen
        x0, y0, x1, y1 = panes[-1]
        scale = frame.shape[1] / app.window.size[0]
        return frame[int(y0 * scale) + 2 : int(y1 * scale) - 2, int(x0 * scale) + 2 : int(x1 * scale) - 2]

    app.wait_idle()
    app.select_tab = "Output"
    app.set_state(export={"splat_gaussians": 300, "splat_steps": 5})
    widget = app.panel(ExportWidget)
    run_until_finished(app, widget.export_splat())
    assert widget.pending is not None and widget.preview and exported_files(app) == []
    front = next_preview(widget, None)
    assert front.shape == (PREVIEW_SIZE, PREVIEW_SIZE, 3) and front.max() > 0.2
    np.testing.assert_allclose(front, expected(widget.pending.asset), atol=1e-5)
    image = imgui.image
    monkeypatch.setattr(imgui, "image", drawn)
    front_frame = app.step_frame(capture=True)
    app.state.edit = app.state.edit.with_camera(yaw=90.0)
    side = next_preview(widget, front)
    side_frame = app.step_frame(capture=True)
    np.testing.assert_allclose(side, expected(widget.pending.asset), atol=1e-5)
    assert np.abs(side - front).mean() > 0.01
    before, after = pane(front_frame).astype(float), pane(side_frame).astype(float)
    assert before.max() > 50 and np.abs(after - before).mean() > 2  # the pane on screen follows the camera
    recorder = ItemRecorder()
    with recorder.installed(monkeypatch):
        app.step_frame()
        click(app, *recorder.centre(f"Save {widget.pending.name}"))
    run_until_finished(app, widget.task)
    assert widget.task.status == "done", widget.task.error
    assert exported_files(app) == [widget.task.value.name] == [widget.pending.saved.name]
    reloaded = load_asset(widget.task.value)  # the file holds what the preview showed
    np.testing.assert_allclose(expected(reloaded), side, atol=1e-5)


def test_the_export_progress_and_result_are_in_sight_without_scrolling(app, monkeypatch):
    """At the panel's bottom, under three sections, a click on Export mesh seemed to do nothing."""
    from gui_input import ItemRecorder

    from viz.export_widget import ExportWidget

    app.wait_idle()
    app.select_tab = "Output"
    app.set_state(export={"mesh_resolution": 64})
    task = app.panel(ExportWidget).export_mesh()
    run_until_finished(app, task)
    recorder = ItemRecorder()
    with recorder.installed(monkeypatch):
        app.step_frame()
    assert "Open folder" in recorder.rects, "the finished export's line is below the fold"
