import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from panohead.checkpoint import save_generator
from panohead.compare import Comparison, Pane, arrange
from panohead.editing import Camera, EditState, Latent


def flat(value: int, size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.uint8)


def test_side_and_grid_layouts_tile_the_panes():
    tiles = [flat(10), flat(20), flat(30)]
    assert arrange(tiles, ["a", "b", "c"], "side").shape == (64, 192, 3)
    grid = arrange(tiles, ["a", "b", "c"], "grid")
    assert grid.shape == (128, 128, 3) and (grid[64:, 64:] == 0).all()  # the fourth cell is empty
    assert (grid[40:64, 60:64] == 10).all() and (grid[40:64, 124:] == 20).all() and (grid[100:, :10] == 30).all()


def test_wipe_shows_the_first_pane_left_of_the_line_and_the_second_right_of_it():
    picture = arrange([flat(10), flat(200)], ["before", "after"], "wipe", wipe=0.25)
    assert picture.shape == (64, 64, 3)
    assert (picture[40:, :15] == 10).all() and (picture[40:, 17:] == 200).all()
    assert (picture[40:, 15:17] == 255).all()  # the split line
    with pytest.raises(ValueError, match="the wipe needs two panes"):
        arrange([flat(10)], ["only"], "wipe")


def test_a_pane_is_a_head_or_a_photo():
    with pytest.raises(ValueError, match="pane 'x': give a head state or a photo"):
        Pane("x")


@pytest.fixture
def checkpoint(tmp_path, tiny_generator):
    path = tmp_path / "tiny.safetensors"
    save_generator(path, tiny_generator)
    return str(path)


def test_one_camera_drives_every_head_and_photos_stay(checkpoint, tmp_path):
    Image.fromarray(flat(77, 80)).save(tmp_path / "photo.png")
    panes = [
        Pane("seed 1", checkpoint, EditState(latent=Latent.from_seed(1))),
        Pane("seed 1 again", checkpoint, EditState(latent=Latent.from_seed(1), camera=Camera(yaw=90))),
        Pane("seed 2", checkpoint, EditState(latent=Latent.from_seed(2))),
        Pane("photo", photo=str(tmp_path / "photo.png")),
    ]
    comparison = Comparison(size=32)
    front = comparison.tiles(panes, Camera(yaw=0.0))
    side = comparison.tiles(panes, Camera(yaw=120.0))
    assert np.array_equal(front[0], front[1])  # a state's own camera is ignored
    assert not np.array_equal(front[0], front[2])
    assert all(np.abs(a.astype(int) - b).mean() > 1 for a, b in zip(front[:3], side[:3], strict=True))
    assert (front[3] == 77).all() and np.array_equal(front[3], side[3])
    assert len(comparison.models) == 1 and len(comparison.heads) == 2  # one model, two distinct heads


def test_turntable_video_has_every_frame(checkpoint, tmp_path):
    panes = [Pane(f"seed {s}", checkpoint, EditState(latent=Latent.from_seed(s))) for s in (1, 2)]
    path = tmp_path / "compare.mp4"
    fractions = []
    Comparison(size=32).save_turntable(path, panes, Camera(), "side", frames=4, fps=4, progress=fractions.append)
    frames = imageio.mimread(path)
    assert len(frames) == 4 and frames[0].shape == (32, 64, 3) and fractions[-1] == 1.0
