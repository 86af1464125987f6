"""``panohead keyframes``: a saved session's keyframe path to video, with one-line errors."""

import imageio.v2 as imageio
import pytest
from click.testing import CliRunner

from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.editing import Camera, EditState, Keyframe, Latent, ModelReference, PathSettings, Session, save_session


@pytest.fixture
def session_file(tmp_path, tiny_generator, monkeypatch):
    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    checkpoint = tmp_path / "tiny.safetensors"
    save_generator(checkpoint, tiny_generator)
    frames = (
        Keyframe(EditState(latent=Latent.from_seed(1))),
        Keyframe(EditState(latent=Latent.from_seed(2), camera=Camera(yaw=90))),
    )
    path = tmp_path / "head.json"
    save_session(
        path,
        Session(
            ModelReference.of(tiny_generator, checkpoint),
            frames[0].state,
            frames,
            PathSettings(frames_per_segment=2, fps=10),
        ),
    )
    return path


def test_keyframes_command_writes_the_session_path_as_video(session_file, tmp_path):
    result = CliRunner().invoke(
        main, ["keyframes", str(session_file), "-o", str(tmp_path / "path.gif"), "--view", "raw", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert len(imageio.mimread(tmp_path / "path.gif")) == 3
    assert f"wrote {tmp_path / 'path.gif'} (3 frames at 10 fps" in result.output


def test_keyframes_command_names_a_missing_checkpoint_in_one_line(session_file, tmp_path):
    (tmp_path / "tiny.safetensors").unlink()
    result = CliRunner().invoke(main, ["keyframes", str(session_file), "--device", "cpu"])
    assert result.exit_code != 0
    assert (
        result.stderr
        == f"Error: {session_file}: its checkpoint {tmp_path / 'tiny.safetensors'} is missing (moved or deleted?)\n"
    )
