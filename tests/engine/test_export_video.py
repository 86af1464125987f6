"""Turntable videos: frame count and size, grids of heads, views, nothing partial after a cancel."""

from __future__ import annotations

import threading

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from panohead.camera import label_to_orbit
from panohead.config import preset
from panohead.export.heads import head_from_seed
from panohead.export.tasks import ExportCancelled
from panohead.export.video import Turntable, export_turntable, orbit, orbit_cameras, render_tile
from panohead.generator import PanoHeadGenerator


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def heads(tiny):
    return [head_from_seed(tiny, seed) for seed in (0, 1, 2)]


def test_mp4_has_the_requested_frames_and_grid_size(tiny, heads, tmp_path):
    path = tmp_path / "turntable.mp4"
    export_turntable(tiny, heads, path, Turntable(frames=6, resolution=48, columns=2))
    reader = imageio.get_reader(path)
    assert reader.count_frames() == 6
    assert reader.get_meta_data()["size"] == (96, 96)  # 3 heads in 2 columns: 2 x 2 tiles of 48
    assert reader.get_meta_data()["fps"] == 30


def test_gif_has_the_requested_frames_and_size(tiny, heads, tmp_path):
    path = tmp_path / "turntable.gif"
    export_turntable(tiny, heads[:2], path, Turntable(frames=5, view="raw", fps=10))
    frames = iio.imread(path, index=None)
    assert frames.shape == (5, 16, 32, 3)  # the raw view's native size is the neural resolution, 16


def test_orbit_starts_in_front_and_turns_360_degrees_at_the_requested_pitch(tiny):
    orbit = label_to_orbit(orbit_cameras(tiny, Turntable(frames=4, pitch=20.0, radius=3.0)))
    expected_yaw = torch.tensor([0.0, 0.5, 1.0, 1.5]) * torch.pi
    torch.testing.assert_close(
        torch.polar(torch.ones(4), orbit.yaw), torch.polar(torch.ones(4), expected_yaw), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(orbit.pitch, torch.full((4,), torch.pi / 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(orbit.radius, torch.full((4,), 3.0))


@pytest.mark.parametrize(
    "view, background",
    [("image", "white"), ("raw", "black"), ("mask", "generated"), ("depth", "generated")]
    + [(view, "black") for view in ("foreground", "background", "normals", "density", "colour", "mirror")],
)
def test_every_view_renders_a_tile_of_the_requested_size(tiny, heads, view, background):
    (camera,) = orbit(Turntable(frames=1))
    tile = render_tile(tiny, heads[0], camera, Turntable(view=view, background=background, resolution=24))
    assert tile.shape == (24, 24, 3) and tile.dtype == np.uint8
    if view in ("mask", "depth"):
        assert (tile[..., 0] == tile[..., 1]).all()  # grey


@pytest.mark.parametrize("background, low, high", [("white", 250, 255), ("black", 0, 5)])
def test_flat_background_fills_where_the_head_is_transparent(background, low, high):
    torch.manual_seed(0)
    empty = PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False)
    with torch.no_grad():
        empty.decoder.out.bias[0] = -100.0  # no density anywhere: every pixel is background
    (camera,) = orbit(Turntable(frames=1))
    for view in ("image", "raw"):
        tile = render_tile(empty, head_from_seed(empty, 0), camera, Turntable(view=view, background=background))
        assert low <= tile.min() and tile.max() <= high


def test_cancel_leaves_no_file(tiny, heads, tmp_path):
    cancel = threading.Event()
    with pytest.raises(ExportCancelled):
        export_turntable(
            tiny,
            heads[:1],
            tmp_path / "turntable.mp4",
            Turntable(frames=8),
            progress=lambda fraction: fraction >= 0.25 and cancel.set(),
            cancel=cancel,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(frames=0), "frames must be at least 1, got 0"),
        (
            dict(view="sepia"),
            "view must be one of image, raw, mask, depth, foreground, background, normals, density, colour, mirror, "
            "got 'sepia'",
        ),
        (dict(resolution=33), "resolution must be an even number of pixels from 16 to 2048, got 33"),
        (dict(background="green"), "background must be one of generated, white, black, got 'green'"),
    ],
)
def test_bad_turntable_settings_are_one_line_errors(settings, message):
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        Turntable(**settings)


def test_unknown_video_format_is_refused_before_rendering(tiny, heads, tmp_path):
    with pytest.raises(ValueError, match=r"turntable\.avi: unknown video format 'avi'; use \.mp4 or \.gif"):
        export_turntable(tiny, heads[:1], tmp_path / "turntable.avi", Turntable(frames=2))
    assert list(tmp_path.iterdir()) == []
