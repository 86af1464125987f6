"""Exported assets read back from their files and rendered from any camera: what the user gets.

    asset = load_asset("head.glb")          # a textured .glb / .obj, or a 3DGS splat .ply
    image, alpha = asset.render(label, 256)  # (S, S, 3) on black, (S, S), as the file shows it
    asset = SplatAsset(gaussians)           # or one not written yet (the app's preview before Save)

Used to measure an export against the generator (bench/bench_assets.py) and to preview it in the
app. Meshes go through :func:`~panohead.export.raster.render_textured`, splats through
:func:`~panohead.export.gaussians.render_gaussians`; both sample pixel centres only, so
``supersample`` renders larger and averages down for smooth edges.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from panohead.export.gaussians import Gaussians, render_gaussians
from panohead.export.raster import render_textured
from panohead.export.splat import load_splat


class TexturedMeshAsset:
    """A UV-textured mesh: as :func:`~panohead.export.texture.texture_mesh` makes it, or read from a
    file (.glb with its embedded texture, or .obj with its .mtl and image). ``name`` names it in errors."""

    def __init__(self, mesh: trimesh.Trimesh, name: str = "the mesh") -> None:
        visual = mesh.visual
        material = getattr(visual, "material", None)
        image = getattr(material, "baseColorTexture", None)  # glTF
        if image is None:
            image = getattr(material, "image", None)  # .obj + .mtl
        if getattr(visual, "uv", None) is None or image is None:
            raise ValueError(f"{name}: the mesh has no UV texture; export it with a texture")
        self.vertices = torch.as_tensor(mesh.vertices, dtype=torch.float32)
        self.faces = torch.as_tensor(mesh.faces, dtype=torch.long)
        self.uv = torch.as_tensor(visual.uv, dtype=torch.float32)
        self.texture = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255)
        self.description = f"{len(self.faces)} faces, {image.size[0]}x{image.size[1]} texture"

    @classmethod
    def load(cls, path: str | os.PathLike) -> TexturedMeshAsset:
        return cls(trimesh.load(path, force="mesh", process=False), str(path))

    def to(self, device: torch.device | str) -> TexturedMeshAsset:
        """Render on ``device`` from now on (a GPU for large images); returns self."""
        for name in ("vertices", "faces", "uv", "texture"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    @torch.no_grad()
    def render(self, label: torch.Tensor, size: int, supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        image, alpha = render_textured(
            self.vertices, self.faces, self.uv, self.texture, label.to(self.vertices.device), size * supersample
        )
        return downsample(image, alpha, supersample)


class SplatAsset:
    """Gaussian splats: fitted ones, or a 3DGS .ply read back (:meth:`load`)."""

    def __init__(self, gaussians: Gaussians) -> None:
        self.gaussians = gaussians
        self.description = f"{len(gaussians)} Gaussians"

    @classmethod
    def load(cls, path: str | os.PathLike) -> SplatAsset:
        return cls(load_splat(path))

    def to(self, device: torch.device | str) -> SplatAsset:
        """Render on ``device`` from now on; returns self."""
        self.gaussians = Gaussians(**{name: value.to(device) for name, value in self.gaussians.parameters().items()})
        return self

    @torch.no_grad()
    def render(self, label: torch.Tensor, size: int, supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        image, alpha = render_gaussians(self.gaussians, label.to(self.gaussians.means.device), size * supersample)
        return downsample(image, alpha, supersample)


def downsample(image: torch.Tensor, alpha: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Box-filter (S*f, S*f, 3) and (S*f, S*f) down to (S, S, 3) and (S, S)."""
    if factor == 1:
        return image, alpha
    stacked = torch.cat([image, alpha[..., None]], dim=-1).permute(2, 0, 1)[None]
    small = F.avg_pool2d(stacked, factor)[0].permute(1, 2, 0)
    return small[..., :3], small[..., 3]


def load_asset(path: str | os.PathLike) -> TexturedMeshAsset | SplatAsset:
    """The asset in ``path``: .glb / .obj (textured mesh) or .ply (splats)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".glb", ".obj"):
        return TexturedMeshAsset.load(path)
    if suffix == ".ply":
        return SplatAsset.load(path)
    raise ValueError(f"{path}: not an exported asset; open a textured .glb/.obj or a splat .ply")
