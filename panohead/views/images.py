"""Pure image functions of the views: colour maps, depth and normal images, compositing, PCA.

Images are torch tensors (C, H, W) with values in [0, 1] unless said otherwise, on any device.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from panohead.camera import pixel_rays, split_label
from panohead.errors import one_line
from panohead.images import open_image

Colormap = Literal["coolwarm", "viridis", "gray"]
COLORMAPS: tuple[Colormap, ...] = get_args(Colormap)
# Anchor colours (sRGB, 0..1) of the colour maps, interpolated linearly.
COLORMAP_ANCHORS: dict[Colormap, tuple[tuple[float, float, float], ...]] = {
    "coolwarm": ((0.23, 0.30, 0.75), (0.55, 0.69, 1.00), (0.87, 0.87, 0.87), (0.96, 0.60, 0.48), (0.71, 0.02, 0.15)),
    "viridis": ((0.27, 0.00, 0.33), (0.23, 0.32, 0.55), (0.13, 0.57, 0.55), (0.37, 0.79, 0.38), (0.99, 0.91, 0.14)),
    "gray": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
CHECKER_LIGHT, CHECKER_DARK = 0.42, 0.30

# How each axis-aligned slice is shown: normal axis -> ((right axis, sign), (up axis, sign)).
# z: seen from the front (x right, y up); x: from the subject's left side (-z right, y up);
# y: from above with the face at the bottom (x right, -z up).
VIEW_AXES = {2: ((0, 1.0), (1, 1.0)), 0: ((2, -1.0), (1, 1.0)), 1: ((0, 1.0), (2, -1.0))}
Axis = Literal["x", "y", "z"]
AXES: tuple[Axis, ...] = get_args(Axis)  # AXES[i]: the name of world axis i
AXIS_INDEX: dict[Axis, int] = {name: index for index, name in enumerate(AXES)}


def to_unit(image: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1], clamped."""
    return ((image.float() + 1.0) * 0.5).clamp(0.0, 1.0)


def colormap(values: torch.Tensor, name: Colormap) -> torch.Tensor:
    """(H, W) values in [0, 1] -> (3, H, W) colours."""
    anchors = torch.tensor(COLORMAP_ANCHORS[name], device=values.device, dtype=torch.float32)
    position = values.float().clamp(0.0, 1.0) * (len(anchors) - 1)
    low = position.floor().long().clamp(max=len(anchors) - 2)
    fraction = (position - low)[..., None]
    colours = anchors[low] * (1.0 - fraction) + anchors[low + 1] * fraction
    return colours.permute(2, 0, 1)


def checkerboard(height: int, width: int, cell: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(3, H, W) grey checkerboard drawn behind transparent pixels."""
    rows = torch.arange(height, device=device) // cell
    cols = torch.arange(width, device=device) // cell
    odd = ((rows[:, None] + cols[None, :]) % 2).float()
    return (CHECKER_LIGHT + (CHECKER_DARK - CHECKER_LIGHT) * odd).expand(3, height, width)


def over(rgb: torch.Tensor, alpha: torch.Tensor, backdrop: torch.Tensor) -> torch.Tensor:
    """Straight-alpha compositing: rgb (3, H, W) with alpha (1, H, W) over backdrop (3, H, W)."""
    return rgb * alpha + backdrop * (1.0 - alpha)


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size), bilinear (antialiased when shrinking)."""
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    return F.interpolate(
        image[None].float(), size=(size, size), mode="bilinear", align_corners=False, antialias=size < image.shape[-1]
    )[0]


def background_picture(path: str, size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(3, size, size) in [0, 1]: the picture at ``path`` centre-cropped to a square and resized, to put
    behind the head; a missing or unreadable file is a one-line error naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_image(path) as picture:
            picture = picture.convert("RGB")
            side = min(picture.size)
            left, top = (picture.width - side) // 2, (picture.height - side) // 2
            picture = picture.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
            array = np.asarray(picture, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: background image not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read the background image ({one_line(error)})") from None
    return torch.from_numpy(array).permute(2, 0, 1).to(device)


def depth_image(depth: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Depth (1, n, n) -> grey (3, n, n): near is bright, far dark, empty pixels black.

    The range is stretched over the foreground pixels (``mask`` (1, n, n) > ``threshold``).
    """
    inside = mask > threshold
    if not inside.any():
        return torch.zeros(3, *depth.shape[-2:], device=depth.device)
    near, far = depth[inside].min(), depth[inside].max()
    value = ((far - depth) / (far - near).clamp_min(1e-6) * 0.85 + 0.15) * inside
    return value.expand(3, -1, -1).float()


def normals_from_depth(
    depth: torch.Tensor, label: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    """Surface normals from the expected ray depth, as a camera-space normal map (3, n, n).

    ``depth`` (1, n, n) is the distance along each unit ray of ``label`` (1, 25). Points are
    unprojected to world space, differentiated across pixels and the normal turned into the camera
    frame; colours follow the usual normal-map convention (red = right, green = up, blue = towards
    the viewer). Empty pixels are black.
    """
    n = depth.shape[-1]
    origins, directions = pixel_rays(label.float(), n)
    points = (origins + directions * depth.reshape(1, -1, 1)).reshape(n, n, 3)
    d_right = torch.zeros_like(points)
    d_down = torch.zeros_like(points)
    d_right[:, 1:-1] = points[:, 2:] - points[:, :-2]
    d_down[1:-1, :] = points[2:, :] - points[:-2, :]
    d_right[:, 0], d_right[:, -1] = points[:, 1] - points[:, 0], points[:, -1] - points[:, -2]
    d_down[0, :], d_down[-1, :] = points[1, :] - points[0, :], points[-1, :] - points[-2, :]
    # right x down points away from an OpenCV camera; flip it to face the viewer.
    normal = F.normalize(-torch.cross(d_right, d_down, dim=-1), dim=-1)
    cam2world, _ = split_label(label.float())
    camera_normal = normal @ cam2world[0, :3, :3]  # world -> camera: multiply by R (R^T n as a row)
    colour = torch.stack([camera_normal[..., 0], -camera_normal[..., 1], -camera_normal[..., 2]], dim=0) * 0.5 + 0.5
    return colour * (mask > threshold)


def slice_points(
    axis: int, offset: float, resolution: int, box_warp: float, device: torch.device | str | None = None
) -> torch.Tensor:
    """(resolution * resolution, 3) points of the plane ``coordinate[axis] = offset`` across the box.

    Row-major display order (top row first) with the orientation of :data:`VIEW_AXES`.
    """
    (right_axis, right_sign), (up_axis, up_sign) = VIEW_AXES[axis]
    half = box_warp / 2.0
    centres = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution * 2.0 * half - half
    up, right = torch.meshgrid(-centres, centres, indexing="ij")
    points = torch.full((resolution, resolution, 3), float(offset), device=device)
    points[..., right_axis] = right * right_sign
    points[..., up_axis] = up * up_sign
    return points.reshape(-1, 3)


def orient_plane(plane: torch.Tensor, width_axis: int, height_axis: int, normal_axis: int) -> torch.Tensor:
    """A stored tri-grid plane (C, H, W) (rows along ``height_axis``, columns along ``width_axis``,
    both ascending) turned to the :data:`VIEW_AXES` orientation of its normal."""
    (right_axis, right_sign), (_, up_sign) = VIEW_AXES[normal_axis]
    shown = plane if right_axis == width_axis else plane.transpose(-1, -2)
    if right_sign < 0:
        shown = shown.flip(-1)
    if up_sign > 0:
        shown = shown.flip(-2)
    return shown


def pca_colours(features: torch.Tensor, sample: int = 16384) -> torch.Tensor:
    """(N, C) features -> (N, 3) colours in [0, 1] from their three principal components.

    The basis is fitted on an evenly spaced subsample; signs are fixed (largest loading positive) so
    colours stay put while a slider moves; each component is stretched between its 2nd and 98th
    percentiles.
    """
    features = features.float()
    fit = features[:: max(1, features.shape[0] // sample)]
    mean = fit.mean(dim=0)
    centred = fit - mean
    covariance = centred.T @ centred / max(1, centred.shape[0] - 1)
    _, vectors = torch.linalg.eigh(covariance)
    basis = vectors[:, -3:].flip(-1)
    if basis.shape[1] < 3:
        basis = F.pad(basis, (0, 3 - basis.shape[1]))
    signs = torch.sign(basis.gather(0, basis.abs().argmax(dim=0, keepdim=True)))
    basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
    projected = (features - mean) @ basis
    fitted = (fit - mean) @ basis
    low = torch.quantile(fitted, 0.02, dim=0)
    high = torch.quantile(fitted, 0.98, dim=0)
    return ((projected - low) / (high - low).clamp_min(1e-6)).clamp(0.0, 1.0)


def to_rgba8(rgb: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """(3, H, W) [+ (1, H, W)] in [0, 1] -> (H, W, 4) uint8 on the same device (convert before copying)."""
    if alpha is None:
        alpha = torch.ones_like(rgb[:1])
    rgba = torch.cat([rgb.float(), alpha.float()], dim=0).clamp(0.0, 1.0)
    return (rgba * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous()
