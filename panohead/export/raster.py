"""A small z-buffer triangle rasteriser in PyTorch, for baking textures and checking exported meshes.

No OpenGL context is needed (the exporters run headless, in tests and on servers). Coordinates are
continuous pixel units: pixel (row i, column j) covers [j, j + 1] x [i, i + 1] and is sampled at its
centre (j + 0.5, i + 0.5), the convention of :func:`panohead.camera.pixel_rays`, so a point the
generator's ray through a pixel passes lands in that pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from panohead.camera import project

# Candidate (face, pixel) pairs tested at once; about 100 MB of temporaries.
CANDIDATES_PER_CHUNK = 2**21


@dataclass(frozen=True)
class Fragments:
    """The nearest face at each pixel of an (H, W) image.

    ``face`` (H, W) long, -1 where no face covers the pixel centre; ``bary`` (H, W, 3) the
    perspective-correct barycentric weights of the face's corners there; ``depth`` (H, W) the
    interpolated depth (inf where empty).
    """

    face: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def covered(self) -> torch.Tensor:
        return self.face >= 0

    def interpolate(self, attributes: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Per-vertex ``attributes`` (V, C) at the covered pixels -> (K, C), K = covered.sum()."""
        covered = self.covered
        corners = faces[self.face[covered]]  # (K, 3)
        return (attributes[corners] * self.bary[covered][..., None]).sum(dim=1)


def rasterize(
    corners: torch.Tensor, depths: torch.Tensor, height: int, width: int, perspective: bool = True
) -> Fragments:
    """Rasterise triangles given by pixel-space ``corners`` (F, 3, 2) with corner ``depths`` (F, 3).

    Faces with a corner behind the camera (depth <= 0) are skipped. Both windings are drawn. With
    ``perspective`` the barycentrics are corrected for depth (interpolate 1/z); without it (UV
    space, orthographic) they are the screen-space ones.
    """
    device = corners.device
    zbuffer = torch.full((height * width,), float("inf"), device=device)
    face_of = torch.full((height * width,), -1, dtype=torch.long, device=device)
    bary_of = torch.zeros(height * width, 3, device=device)
    keep = (depths > 0).all(dim=1) & torch.isfinite(corners).all(dim=2).all(dim=1)
    ids = keep.nonzero()[:, 0]
    lower = (corners[ids].amin(dim=1) - 0.5).ceil().long()
    upper = (corners[ids].amax(dim=1) - 0.5).floor().long()
    lower[:, 0].clamp_(min=0)
    lower[:, 1].clamp_(min=0)
    upper[:, 0].clamp_(max=width - 1)
    upper[:, 1].clamp_(max=height - 1)
    spans = (upper - lower + 1).clamp(min=0)
    counts = spans[:, 0] * spans[:, 1]
    inside_image = counts > 0
    ids, lower, spans, counts = ids[inside_image], lower[inside_image], spans[inside_image], counts[inside_image]
    if len(ids) == 0:
        return Fragments(face_of.view(height, width), bary_of.view(height, width, 3), zbuffer.view(height, width))
    ends = counts.cumsum(0)
    start = 0
    while start < len(ids):
        stop = int(torch.searchsorted(ends, ends[start] - counts[start] + CANDIDATES_PER_CHUNK, right=True))
        stop = max(stop, start + 1)
        _draw(
            corners,
            depths,
            ids[start:stop],
            lower[start:stop],
            spans[start:stop],
            counts[start:stop],
            width,
            perspective,
            zbuffer,
            face_of,
            bary_of,
        )
        start = stop
    return Fragments(face_of.view(height, width), bary_of.view(height, width, 3), zbuffer.view(height, width))


def _draw(
    corners: torch.Tensor,
    depths: torch.Tensor,
    ids: torch.Tensor,
    lower: torch.Tensor,
    spans: torch.Tensor,
    counts: torch.Tensor,
    width: int,
    perspective: bool,
    zbuffer: torch.Tensor,
    face_of: torch.Tensor,
    bary_of: torch.Tensor,
) -> None:
    """Test every pixel of each face's bounding box and keep the nearest hits (in place)."""
    device = corners.device
    face = torch.repeat_interleave(torch.arange(len(ids), device=device), counts)
    offset = torch.arange(len(face), device=device) - (counts.cumsum(0) - counts)[face]
    column = lower[face, 0] + offset % spans[face, 0]
    row = lower[face, 1] + offset // spans[face, 0]
    point = torch.stack([column, row], dim=-1).to(corners.dtype) + 0.5
    a, b, c = corners[ids[face]].unbind(dim=1)  # (P, 2) each

    def edge(p: torch.Tensor, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])

    area = edge(a, b, c)
    bary = torch.stack([edge(b, c, point), edge(c, a, point), edge(a, b, point)], dim=-1) / area[:, None]
    hit = (area.abs() > 1e-12) & (bary >= -1e-6).all(dim=-1)
    face, bary, column, row = face[hit], bary[hit], column[hit], row[hit]
    z = depths[ids[face]]
    if perspective:
        bary = bary / z
        depth = 1.0 / bary.sum(dim=-1)
        bary = bary * depth[:, None]
    else:
        depth = (bary * z).sum(dim=-1)
    pixel = row * width + column
    zbuffer.scatter_reduce_(0, pixel, depth, reduce="amin")
    candidate = torch.where(depth <= zbuffer[pixel], torch.arange(len(pixel), device=device), -1)
    winner = torch.full_like(zbuffer, -1, dtype=torch.long).scatter_reduce_(0, pixel, candidate, reduce="amax")
    won = (candidate >= 0) & (winner[pixel] == candidate)  # one writer per pixel, even on shared edges
    face_of[pixel[won]] = ids[face[won]]
    bary_of[pixel[won]] = bary[won]


def render_depth(vertices: torch.Tensor, faces: torch.Tensor, label: torch.Tensor, size: int) -> Fragments:
    """Rasterise a mesh (V, 3), (F, 3) as seen by camera ``label`` (1, 25) at ``size`` x ``size``."""
    uv, depth = project(vertices[None], label)
    pixels, depth = uv[0] * size, depth[0]
    return rasterize(pixels[faces], depth[faces], size, size)


def render_textured(
    vertices: torch.Tensor, faces: torch.Tensor, uv: torch.Tensor, texture: torch.Tensor, label: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A UV-textured mesh seen by camera ``label`` (1, 25): image (S, S, 3) on black and coverage (S, S).

    ``uv`` (V, 2) with v = 0 at the bottom of ``texture`` (T, T, 3) in [0, 1], looked up bilinearly.
    One sample per pixel centre (no anti-aliasing: render larger and average down for that).
    """
    fragments = render_depth(vertices, faces, label, size)
    covered = fragments.covered
    texel_uv = fragments.interpolate(uv, faces)  # (K, 2)
    colours = sample_image(texture, torch.stack([texel_uv[:, 0], 1 - texel_uv[:, 1]], dim=-1) * texture.shape[0])
    image = torch.zeros(size, size, 3, device=texture.device)
    image[covered] = colours
    return image, covered.float()


def sample_image(image: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Bilinear lookups of an (S, S, C) image at continuous pixel coordinates (K, 2) -> (K, C)."""
    size = image.shape[0]
    grid = (pixels / size * 2 - 1)[None, None]  # (1, 1, K, 2), align_corners=False convention
    values = F.grid_sample(
        image.permute(2, 0, 1)[None], grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return values[0, :, 0].T
