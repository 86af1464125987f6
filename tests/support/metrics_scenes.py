"""Scenes with known answers for the metric tests: tiny generators with a planted tri-grid and a ball of density."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from panohead.config import preset
from panohead.generator import PanoHeadGenerator
from panohead.rendering.trigrid import sample_trigrid

BALL_RADIUS = 0.2


def smooth_pattern(seed: int, channels: int, size: int, cells: int) -> torch.Tensor:
    """(channels, size, size) random pattern made of ``cells`` x ``cells`` smoothly blended values."""
    coarse = torch.randn(1, channels, cells, cells, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]


class PlantedHead(PanoHeadGenerator):
    """A tiny generator whose tri-grid is the given ``grid`` (1, 3, C, D, H, W) for every latent and whose
    density is an opaque ball of radius 0.2 at the origin; colour comes from the real tri-grid lookup."""

    def __init__(self, grid: torch.Tensor) -> None:
        _, _, channels, depth, size, _ = grid.shape
        torch.manual_seed(0)  # fixed to_rgb weights, so the scene's colours are the same in every run
        super().__init__(
            preset(
                "tiny",
                grid_depth=depth,
                plane_channels=channels,
                plane_resolution=size,
                neural_resolution=32,
                samples_coarse=32,
                samples_fine=32,
                camera_adapter=False,
            )
        )
        self.requires_grad_(False).eval()
        self.grid = grid

    def synthesize_planes(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.grid.expand(ws.shape[0], -1, -1, -1, -1, -1)

    def field(self, planes: torch.Tensor, density_noise: float = 0.0):
        cfg = self.config

        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            colour = sample_trigrid(planes, points, cfg.box_warp, cfg.plane_layout)
            sigma = 2000.0 * (BALL_RADIUS - points.norm(dim=-1, keepdim=True))
            return sigma, colour

        return evaluate


def mirrored_triplane(channels: int = 4, size: int = 64, cells: int = 32) -> PlantedHead:
    """Tri-plane (D = 1) whose only content is on the xy plane: the back reads the face's features."""
    grid = torch.zeros(1, 3, channels, 1, size, size)
    grid[0, 0, :, 0] = smooth_pattern(1, channels, size, cells)
    return PlantedHead(grid)


def distinct_trigrid(channels: int = 4, size: int = 64, depth: int = 8, cells: int = 32) -> PlantedHead:
    """Tri-grid whose xy grid holds one pattern on its back half of planes (z < 0) and an unrelated one
    on its front half (z > 0); they blend only within 1/depth of the box around z = 0."""
    grid = torch.zeros(1, 3, channels, depth, size, size)
    grid[0, 0, :, : depth // 2] = smooth_pattern(2, channels, size, cells)[:, None]  # the back of the head
    grid[0, 0, :, depth // 2 :] = smooth_pattern(3, channels, size, cells)[:, None]  # the face
    return PlantedHead(grid)


class RandomFeatures(nn.Module):
    """A small random-weight CNN standing in for Inception: uint8 images -> 24 features, 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 12, 5, stride=2), nn.ReLU(), nn.Conv2d(12, 24, 3, stride=2), nn.ReLU())
        self.head = nn.Linear(24, 10)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(images.float() / 127.5 - 1.0).mean(dim=(2, 3))
        return features, self.head(features)
