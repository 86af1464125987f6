import math

import pytest
import torch

from panohead.camera import (
    DEFAULT_LOOK_AT,
    focal_from_fov,
    fov_from_focal,
    label_to_orbit,
    mirror_label,
    orbit_label,
    pixel_rays,
    project,
    split_label,
)


def angle_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def test_label_round_trips_yaw_pitch_radius_over_full_circle():
    yaw = torch.deg2rad(torch.arange(-180.0, 360.0, 7.5))
    for pitch_deg in (-40.0, 0.0, 25.0, 60.0):
        pitch = torch.full_like(yaw, math.radians(pitch_deg))
        radius = torch.full_like(yaw, 2.3)
        angles = label_to_orbit(orbit_label(yaw, pitch, radius))
        assert angle_difference(angles.yaw, yaw).abs().max() < 1e-5
        assert (angles.pitch - pitch).abs().max() < 1e-5
        assert (angles.radius - radius).abs().max() < 1e-5


def test_label_layout_is_pose_then_normalised_intrinsics():
    label = orbit_label(0.0)
    assert label.shape == (1, 25)
    assert torch.allclose(label[0, 16:], torch.tensor([4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1]))
    pose = label[0, :16].reshape(4, 4)
    assert torch.allclose(pose[:3, 3], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)  # in front of the face on +z
    assert torch.allclose(pose[3], torch.tensor([0.0, 0.0, 0.0, 1.0]))


def test_back_view_camera_sits_behind_the_head():
    pose = orbit_label(math.pi)[0, :16].reshape(4, 4)
    assert pose[2, 3] == pytest.approx(-2.7, abs=1e-5)


def test_central_ray_passes_through_the_look_at_point():
    for yaw in (0.0, 1.0, math.pi, -2.0):
        origins, directions = pixel_rays(orbit_label(yaw, 0.3), 2)
        centre_direction = torch.nn.functional.normalize(directions[0].mean(0), dim=0)
        to_target = torch.nn.functional.normalize(torch.tensor(DEFAULT_LOOK_AT) - origins[0, 0], dim=0)
        assert torch.dot(centre_direction, to_target) > 1 - 1e-6


def test_image_top_row_looks_up_and_right_column_looks_to_camera_right():
    origins, directions = pixel_rays(orbit_label(0.0, 0.0, look_at=(0, 0, 0)), 8)
    grid = directions[0].reshape(8, 8, 3)
    assert grid[0, :, 1].mean() > 0 > grid[-1, :, 1].mean()
    assert grid[:, -1, 0].mean() > 0 > grid[:, 0, 0].mean()


def test_mirrored_label_is_the_camera_at_negative_yaw():
    yaw = torch.tensor([0.4, 1.9, -2.5])
    mirrored = mirror_label(orbit_label(yaw, 0.2, look_at=(0, 0, 0.2)))
    assert torch.allclose(mirrored, orbit_label(-yaw, 0.2, look_at=(0, 0, 0.2)), atol=1e-6)


def test_official_fov_convention_gives_the_default_focal():
    assert focal_from_fov(18.837) == pytest.approx(4.2647, abs=2e-3)
    assert fov_from_focal(focal_from_fov(30.0)) == pytest.approx(30.0)


def test_malformed_label_is_rejected_with_its_shape():
    with pytest.raises(ValueError, match=r"\(B, 25\)"):
        pixel_rays(torch.zeros(1, 16), 4)


def test_project_inverts_pixel_rays_to_pixel_centres_and_forward_depth():
    label = orbit_label(torch.tensor([0.7, -2.0]), torch.tensor([0.2, -0.1]), 3.0)
    origins, directions = pixel_rays(label, 4)
    distance = torch.linspace(1.0, 4.0, 16).expand(2, 16)
    coords, depth = project(origins + directions * distance[..., None], label)
    centres = (torch.arange(4) + 0.5) / 4
    torch.testing.assert_close(coords[..., 0], centres.repeat(4).expand(2, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(coords[..., 1], centres.repeat_interleave(4).expand(2, 16), atol=1e-5, rtol=0)
    forward = split_label(label)[0][:, None, :3, 2]  # each camera's own +z axis
    torch.testing.assert_close(depth, distance * (directions * forward).sum(-1))
