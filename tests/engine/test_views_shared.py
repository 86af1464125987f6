"""One view, two paths: the viewer's renderer and ``panohead video`` draw a mode with the same pixels."""

from __future__ import annotations

import numpy as np
import pytest

from panohead.checkpoint import load_generator, save_generator
from panohead.editing import Latent
from panohead.export.heads import head_from_seed
from panohead.export.video import Turntable, render_tile
from tests.conftest import make_tiny_generator
from viz.renderer import Renderer
from viz.request import build_request
from viz.state import AppState


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(path, make_tiny_generator())
    return path


@pytest.mark.parametrize(
    "viewer_mode, video_view, background",
    [
        ("final", "image", "same"),
        ("final", "image", "colour"),
        ("raw", "raw", "same"),
        ("depth", "depth", "same"),
        ("normals", "normals", "same"),
        ("density", "density", "same"),
        ("mirror", "mirror", "same"),
    ],
)
def test_viewer_and_video_draw_a_mode_with_the_same_pixels(checkpoint, viewer_mode, video_view, background):
    state = AppState()
    state.model.source = str(checkpoint)
    state.edit = state.edit.replace(latent=Latent.from_seed(5), psi=0.7).with_camera(yaw=40.0, pitch=10.0)
    state.view.backdrop = "transparent"
    if viewer_mode == "mirror":
        state.view.target = "mirror"
    else:
        state.view.mode = viewer_mode
    state.view.slice_axis, state.view.slice_offset = "y", 0.05
    if background == "colour":
        state.background.mode, state.background.colour = "colour", [1.0, 1.0, 1.0]
    shown = Renderer()(build_request(state, "cpu"), "full")
    assert shown.error is None, shown.error

    G = load_generator(checkpoint, "cpu")
    turntable = Turntable(
        view=video_view,
        background="white" if background == "colour" else "generated",
        slice_axis="y",
        slice_offset=0.05,
    )
    tile = render_tile(G, head_from_seed(G, 5, 0.7), state.edit.camera, turntable)

    assert tile.shape == shown.rgba.shape[:2] + (3,)
    difference = np.abs(tile.astype(int) - shown.rgba[..., :3].astype(int))
    assert difference.max() == 0, (viewer_mode, difference.max(), difference.mean())
