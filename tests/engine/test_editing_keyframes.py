import math

import pytest
import torch

from panohead.editing import Camera, EditState, Keyframe, Latent, PathSettings, compose, frame_count, path_frames
from panohead.editing.keyframes import slerp, yaw_delta


def keyframes():
    return [
        Keyframe(EditState(latent=Latent.from_seed(1), camera=Camera(yaw=350.0))),
        Keyframe(EditState(latent=Latent.from_seed(2), camera=Camera(yaw=20.0, pitch=10.0))),
    ]


def test_a_path_starts_and_ends_exactly_on_its_keyframes(tiny_generator):
    settings = PathSettings(frames_per_segment=4)
    frames = list(path_frames(tiny_generator, keyframes(), settings))
    assert len(frames) == frame_count(keyframes(), settings) == 5
    first, last = (compose(tiny_generator, k.state) for k in keyframes())
    assert torch.equal(frames[0].ws, first[0]) and torch.equal(frames[0].background_ws, first[1])
    assert torch.equal(frames[-1].ws, last[0]) and frames[-1].camera == Camera(yaw=20.0, pitch=10.0)


def test_yaw_takes_the_shortest_arc_or_whole_extra_turns(tiny_generator):
    shortest = [f.camera.yaw for f in path_frames(tiny_generator, keyframes(), PathSettings(frames_per_segment=3))]
    assert shortest[:3] == pytest.approx([350.0, 0.0, 10.0])
    assert yaw_delta(350.0, 20.0, PathSettings(yaw_mode="turns", turns=1)) == pytest.approx(390.0)
    assert yaw_delta(20.0, 350.0, PathSettings(yaw_mode="turns", turns=-1)) == pytest.approx(-390.0)


def test_a_looped_single_keyframe_with_one_turn_is_a_turntable(tiny_generator):
    frames = list(
        path_frames(tiny_generator, keyframes()[:1], PathSettings(frames_per_segment=4, yaw_mode="turns", loop=True))
    )
    assert [f.camera.yaw for f in frames] == pytest.approx([350.0, 80.0, 170.0, 260.0])
    assert all(torch.equal(f.ws, frames[0].ws) for f in frames)


def test_lerp_midpoint_is_the_average_of_the_keyframes_ws(tiny_generator):
    frames = list(path_frames(tiny_generator, keyframes(), PathSettings(frames_per_segment=2, interpolation="lerp")))
    a, b = (compose(tiny_generator, k.state)[0] for k in keyframes())
    assert torch.allclose(frames[1].ws, (a + b) / 2, atol=1e-6)


def test_slerp_keeps_the_angle_even_and_the_distance_linear():
    centre = torch.tensor([1.0, 1.0])
    a, b = centre + torch.tensor([2.0, 0.0]), centre + torch.tensor([0.0, 4.0])
    middle = slerp(a, b, 0.5, centre) - centre
    assert float(middle.norm()) == pytest.approx(3.0)
    assert math.degrees(math.atan2(middle[1], middle[0])) == pytest.approx(45.0)
    assert torch.allclose(slerp(a, a, 0.3, centre), a)


@pytest.mark.parametrize(
    "settings, count, message",
    [
        (PathSettings(), 1, r"a path needs at least 2 keyframes \(or loop a single one\), got 1"),
        (PathSettings(loop=True), 0, "a path needs at least 1 keyframe, got 0"),
    ],
)
def test_too_few_keyframes_is_a_clear_error(tiny_generator, settings, count, message):
    with pytest.raises(ValueError, match=message):
        list(path_frames(tiny_generator, keyframes()[:count], settings))


def test_path_settings_are_checked():
    with pytest.raises(ValueError, match="interpolation must be one of slerp, lerp, got 'cubic'"):
        PathSettings(interpolation="cubic")


def test_a_keyframe_path_exports_as_video_frame_by_frame(tiny_generator, tmp_path):
    import imageio.v2 as imageio

    from panohead.editing.path_video import export_path
    from panohead.export.video import Turntable

    fractions = []
    path = tmp_path / "path.gif"
    export_path(
        tiny_generator, keyframes(), path, PathSettings(frames_per_segment=3), Turntable(view="raw"), fractions.append
    )
    frames = imageio.mimread(path)
    n = tiny_generator.config.neural_resolution
    assert len(frames) == 4 and frames[0].shape[:2] == (n, n)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_exporting_to_an_unknown_format_fails_before_rendering(tiny_generator, tmp_path):
    from panohead.editing.path_video import export_path

    with pytest.raises(ValueError, match=r"path.avi: unknown video format 'avi'; use .mp4 or .gif"):
        export_path(tiny_generator, keyframes(), tmp_path / "path.avi", PathSettings())
