"""Per-photo camera refinement for joint inversion: each photo's camera may turn a little on its orbit.

An aligned photo's camera is an estimate (a few degrees off for a real face, more for a side or back
view the user set by hand), and with several photos of one head a wrong camera pulls the shared
latent apart. Stage 1 therefore optimises a small yaw and pitch offset per photo together with the
latent. The offset moves the camera along the model's orbit: label' = orbit(yaw + dyaw, pitch +
dpitch) @ orbit(yaw, pitch)^-1 @ label, which is the label itself at zero offset (any roll or
off-centre shift of an aligned camera is kept) and exactly the orbit camera at the new angles for an
orbit label.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from panohead.camera import label_to_orbit, look_at_cam2world, orbit_cam2world, orbit_origin, split_label

MAX_TURN = math.radians(15.0)  # the refinement never moves a camera further than this from the photo's estimate


def rigid_inverse(pose: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms (B, 4, 4): [R t] -> [R^T -R^T t]."""
    rotation = pose[:, :3, :3].transpose(1, 2)
    inverse = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(pose.shape[0], 1, 1)
    inverse[:, :3, :3] = rotation
    inverse[:, :3, 3] = -(rotation @ pose[:, :3, 3:])[..., 0]
    return inverse


class CameraRefinement(nn.Module):
    """Learnable (yaw, pitch) offsets ``angles`` (N, 2), in radians, of N photo cameras; call -> labels (N, 25)."""

    # Buffers (N,) and (N, 4, 4), (N, 9), (N, 3): each photo's orbit, its label relative to it, its lens and pivot.
    yaw: torch.Tensor
    pitch: torch.Tensor
    radius: torch.Tensor
    relative: torch.Tensor
    intrinsics: torch.Tensor
    look_at: torch.Tensor

    def __init__(self, labels: torch.Tensor, look_at: tuple[float, float, float]) -> None:
        super().__init__()
        orbit = label_to_orbit(labels)
        cam2world, _ = split_label(labels)
        base = orbit_cam2world(orbit.yaw, orbit.pitch, orbit.radius, look_at, device=labels.device)
        self.register_buffer("yaw", orbit.yaw)
        self.register_buffer("pitch", orbit.pitch)
        self.register_buffer("radius", orbit.radius)
        self.register_buffer("relative", rigid_inverse(base) @ cam2world)  # the label relative to its orbit pose
        self.register_buffer("intrinsics", labels[:, 16:].clone())
        self.register_buffer(
            "look_at", torch.tensor(look_at, dtype=torch.float32, device=labels.device).expand(labels.shape[0], 3)
        )
        self.angles = nn.Parameter(torch.zeros(labels.shape[0], 2, device=labels.device))

    def forward(self) -> torch.Tensor:
        """The refined labels (N, 25); only device-side work, so a CUDA graph can capture it."""
        origin = orbit_origin(self.yaw + self.angles[:, 0], self.pitch + self.angles[:, 1], self.radius)
        cam2world = look_at_cam2world(origin, self.look_at) @ self.relative
        return torch.cat([cam2world.reshape(-1, 16), self.intrinsics], dim=1)

    def clamp_(self) -> None:
        """Keep every offset within :data:`MAX_TURN` (after each optimiser step)."""
        with torch.no_grad():
            self.angles.clamp_(-MAX_TURN, MAX_TURN)
