"""Cameras: orbit poses, the 25-number PanoHead/EG3D camera label, and ray generation.

Conventions (see ../shared/spec/official_format.md and README "Coordinate frame"):

* World: y is up, the face looks towards +z, the head sits near the origin.
* A camera-to-world matrix has columns (right, down, forward, origin): the camera looks along its
  own +z axis and image rows grow downwards (the OpenCV convention the official data uses).
* A *label* is 25 numbers: the 4x4 cam2world matrix flattened row-major, then the 3x3 intrinsics
  normalised by the image size, ``[[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]]``.
* Our orbit angles are geometric: ``yaw`` turns the camera about the world y axis (0 = in front of
  the face on +z, +90 degrees = on +x, 180 = behind the head); ``pitch`` is the elevation above the
  horizontal plane (positive = camera above the head, looking down). The camera stays on a sphere
  of ``radius`` about the world origin and looks at ``look_at`` (the official pivot is (0, 0, 0.2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DEFAULT_RADIUS = 2.7
# Camera distances the viewer's zoom and the CLI accept: the whole head in view at 1 (FOV 18.8 deg),
# a small head at 6; the renderer's ray bounds follow the camera over this range (generator.depth_shift).
RADIUS_RANGE = (1.0, 6.0)
DEFAULT_FOCAL = 4.2647
DEFAULT_LOOK_AT = (0.0, 0.0, 0.2)
LABEL_SIZE = 25
# Keep the camera off the poles, where "up" is undefined and the look-at frame flips.
MAX_PITCH = math.radians(89.0)


def focal_from_fov(fov_degrees: float) -> float:
    """Normalised focal length for an official "FOV" value.

    The official helper divides by an extra 1.414, so its "18.837 degrees" gives f = 4.2647; we keep
    that convention so numbers typed from the official scripts mean the same thing here.
    """
    return 1.0 / (math.tan(math.radians(fov_degrees) / 2.0) * 1.414)


def fov_from_focal(focal: float) -> float:
    """Inverse of :func:`focal_from_fov` (official "FOV" convention, in degrees)."""
    return math.degrees(2.0 * math.atan(1.0 / (focal * 1.414)))


def intrinsics_matrix(focal: float = DEFAULT_FOCAL, device: torch.device | str | None = None) -> torch.Tensor:
    """(3, 3) intrinsics normalised by image size, principal point at the centre."""
    return torch.tensor([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]], device=device)


def look_at_cam2world(origin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) cam2world for cameras at ``origin`` (B, 3) looking at ``target`` (B, 3) with y up."""
    forward = torch.nn.functional.normalize(target - origin, dim=-1)
    world_up = torch.zeros_like(forward)  # (0, 1, 0) made on the device: no host copy (CUDA-graph safe)
    world_up[..., 1] = 1.0
    right = torch.nn.functional.normalize(torch.cross(forward, world_up, dim=-1), dim=-1)
    down = torch.cross(forward, right, dim=-1)
    pose = torch.eye(4, device=origin.device, dtype=origin.dtype).repeat(origin.shape[0], 1, 1)
    pose[:, :3, 0] = right
    pose[:, :3, 1] = down
    pose[:, :3, 2] = forward
    pose[:, :3, 3] = origin
    return pose


def orbit_origin(yaw: torch.Tensor, pitch: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Camera positions (B, 3) on the orbit sphere for angles in radians."""
    pitch = pitch.clamp(-MAX_PITCH, MAX_PITCH)
    return torch.stack(
        [
            radius * torch.cos(pitch) * torch.sin(yaw),
            radius * torch.sin(pitch),
            radius * torch.cos(pitch) * torch.cos(yaw),
        ],
        dim=-1,
    )


def _as_batch(value: float | torch.Tensor, batch: int, device) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float32, device=device)
    return tensor.expand(batch) if tensor.ndim == 0 else tensor


def orbit_cam2world(
    yaw: float | torch.Tensor,
    pitch: float | torch.Tensor = 0.0,
    radius: float | torch.Tensor = DEFAULT_RADIUS,
    look_at: tuple[float, float, float] | torch.Tensor = DEFAULT_LOOK_AT,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, 4, 4) poses for yaw/pitch in radians (scalars or (B,) tensors)."""
    batch = max(torch.as_tensor(v).numel() for v in (yaw, pitch, radius))
    yaw_t, pitch_t, radius_t = (_as_batch(v, batch, device) for v in (yaw, pitch, radius))
    origin = orbit_origin(yaw_t, pitch_t, radius_t)
    target = torch.as_tensor(look_at, dtype=torch.float32, device=device).reshape(-1, 3).expand(batch, 3)
    return look_at_cam2world(origin, target)


def make_label(cam2world: torch.Tensor, focal: float | torch.Tensor = DEFAULT_FOCAL) -> torch.Tensor:
    """(B, 25) labels from (B, 4, 4) poses and a normalised focal length."""
    batch = cam2world.shape[0]
    intrinsics = torch.zeros(batch, 3, 3, device=cam2world.device, dtype=cam2world.dtype)
    focal_t = _as_batch(focal, batch, cam2world.device).to(cam2world.dtype)
    intrinsics[:, 0, 0] = focal_t
    intrinsics[:, 1, 1] = focal_t
    intrinsics[:, 0, 2] = 0.5
    intrinsics[:, 1, 2] = 0.5
    intrinsics[:, 2, 2] = 1.0
    return torch.cat([cam2world.reshape(batch, 16), intrinsics.reshape(batch, 9)], dim=1)


def orbit_label(
    yaw: float | torch.Tensor,
    pitch: float | torch.Tensor = 0.0,
    radius: float | torch.Tensor = DEFAULT_RADIUS,
    look_at: tuple[float, float, float] | torch.Tensor = DEFAULT_LOOK_AT,
    focal: float = DEFAULT_FOCAL,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, 25) labels for orbit cameras; angles in radians."""
    return make_label(orbit_cam2world(yaw, pitch, radius, look_at, device), focal)


def label_from_rotation(
    rotation: torch.Tensor, radius: float = DEFAULT_RADIUS, focal: float = DEFAULT_FOCAL
) -> torch.Tensor:
    """(B, 25) labels the way the official dataset makes them from a fitted head rotation (B, 3, 3).

    ``rotation`` turns world points into a camera frame with y up and z towards the viewer (a 3D
    face fit's rotation); the camera sits at ``radius`` on that frame's +z and looks at the world
    origin, so yaw, pitch and roll all come from the rotation.
    """
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=rotation.dtype, device=rotation.device))
    world2cam = flip @ rotation  # OpenCV axes: y down, looking along +z
    cam2world = torch.eye(4, dtype=rotation.dtype, device=rotation.device).repeat(rotation.shape[0], 1, 1)
    cam2world[:, :3, :3] = world2cam.transpose(1, 2)
    cam2world[:, :3, 3] = -radius * world2cam.transpose(1, 2)[:, :, 2]
    return make_label(cam2world, focal)


def split_label(label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 25) -> cam2world (B, 4, 4), intrinsics (B, 3, 3)."""
    if label.ndim != 2 or label.shape[1] != LABEL_SIZE:
        raise ValueError(f"camera label must have shape (B, 25), got {tuple(label.shape)}")
    return label[:, :16].reshape(-1, 4, 4), label[:, 16:].reshape(-1, 3, 3)


@dataclass(frozen=True)
class OrbitAngles:
    """Geometric orbit parameters recovered from a label (radians, world units)."""

    yaw: torch.Tensor
    pitch: torch.Tensor
    radius: torch.Tensor
    focal: torch.Tensor


def label_to_orbit(label: torch.Tensor) -> OrbitAngles:
    """Inverse of :func:`orbit_label` for the camera position: yaw in (-pi, pi], pitch, radius, focal."""
    cam2world, intrinsics = split_label(label)
    origin = cam2world[:, :3, 3]
    radius = origin.norm(dim=-1)
    yaw = torch.atan2(origin[:, 0], origin[:, 2])
    pitch = torch.asin((origin[:, 1] / radius.clamp_min(1e-8)).clamp(-1, 1))
    return OrbitAngles(yaw=yaw, pitch=pitch, radius=radius, focal=intrinsics[:, 0, 0])


def mirror_label(label: torch.Tensor) -> torch.Tensor:
    """Label of the camera that sees the x-flipped image: reflect the pose through the x = 0 plane.

    Reflecting world x and the camera's own x axis keeps the frame right-handed, so
    cam2world' = S @ cam2world @ S with S = diag(-1, 1, 1, 1).
    """
    cam2world, _ = split_label(label)
    flip = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], device=label.device, dtype=label.dtype))
    mirrored = flip @ cam2world @ flip
    return torch.cat([mirrored.reshape(-1, 16), label[:, 16:]], dim=1)


def project(points: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (B, N, 3) seen by cameras ``label`` (B, 25) -> image coordinates (B, N, 2) as (x, y)
    normalised by the image size (pixel i's centre at (i + 0.5) / n) and depth (B, N) along each
    camera's forward axis (<= 0: behind it, where the coordinates mean nothing).

    Inverse of :func:`pixel_rays`: local = R^T (P - o), x = (fx local_x + skew local_y) / z + cx,
    y = fy local_y / z + cy.
    """
    cam2world, k = split_label(label.to(points))
    rotation, origin = cam2world[:, :3, :3], cam2world[:, :3, 3]
    local = (points - origin[:, None]) @ rotation  # columns of the pose are the camera's axes
    depth = local[..., 2]
    x = (k[:, 0, 0:1] * local[..., 0] + k[:, 0, 1:2] * local[..., 1]) / depth + k[:, 0, 2:3]
    y = k[:, 1, 1:2] * local[..., 1] / depth + k[:, 1, 2:3]
    return torch.stack([x, y], dim=-1), depth


def pixel_rays(label: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space rays through pixel centres.

    Returns origins and unit directions, each (B, resolution * resolution, 3), pixels in row-major
    order (row = image y growing downwards).

    The arithmetic follows the official ray sampler step for step (pixel centres as i/res + 0.5/res,
    the point at depth 1 mapped by the full 4x4 pose, minus the origin), so rays agree bit for bit:
    the importance sampler amplifies even last-bit differences on a few rays.
    """
    cam2world, intrinsics = split_label(label)
    batch = label.shape[0]
    centres = torch.arange(resolution, device=label.device, dtype=label.dtype) * (1.0 / resolution) + 0.5 / resolution
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    u = u.reshape(1, -1).expand(batch, -1)
    v = v.reshape(1, -1).expand(batch, -1)
    fx, fy = intrinsics[:, 0, 0:1], intrinsics[:, 1, 1:2]
    cx, cy = intrinsics[:, 0, 2:3], intrinsics[:, 1, 2:3]
    skew = intrinsics[:, 0, 1:2]
    x_cam = (u - cx + cy * skew / fy - skew * v / fy) / fx
    y_cam = (v - cy) / fy
    ones = torch.ones_like(x_cam)
    points_cam = torch.stack([x_cam, y_cam, ones, ones], dim=1)  # (B, 4, M): homogeneous points at depth 1
    origin = cam2world[:, :3, 3]
    points_world = torch.bmm(cam2world, points_cam)[:, :3].transpose(1, 2)
    directions = torch.nn.functional.normalize(points_world - origin[:, None], dim=2)
    origins = origin[:, None].expand_as(directions)
    return origins, directions
