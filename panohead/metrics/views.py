"""Rendering helpers the metrics share: batched head renders and the head's own colour.

Every metric renders through the public generator API (mapping -> synthesize_planes -> render), so
any generator that offers it, ours or an official checkpoint loaded through ours, can be measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from panohead.camera import pixel_rays
from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.rendering.trigrid import sampling_layout


def seed_latents(generator: PanoHeadGenerator, seeds: Sequence[int]) -> torch.Tensor:
    """(len(seeds), z_dim) latents, each fixed by its seed alone (same as ``panohead generate``)."""
    return torch.cat([seed_latent(s, generator.config.z_dim, generator.device) for s in seeds], dim=0)


def batches(count: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


@torch.no_grad()
def render_views(
    generator: PanoHeadGenerator,
    z: torch.Tensor,
    c_cond: torch.Tensor,
    cameras: torch.Tensor,
    psi: float = 1.0,
    adapt_camera: bool = False,
    superresolve: bool = False,
) -> dict[str, torch.Tensor]:
    """Render each of B heads from V cameras.

    z (B, z_dim) and c_cond (B, 25) define the heads; ``cameras`` is (V, 25) shared by all heads or
    (B, V, 25). With ``adapt_camera`` every rendering camera is shifted by the generator's
    self-adaptation offset (Sec. 3.4), as in training, so crops follow the dataset's convention.
    Returns the render dict with a leading (B * V) batch (head-major) plus ``head_rgb`` (B*V, 3, n, n):
    the foreground colour alone (see :func:`head_colour`) and ``cameras`` (B*V, 25) actually used.
    """
    ws = generator.mapping(z, c_cond, psi=psi)
    return render_ws_views(generator, ws, cameras, adapt_z=z if adapt_camera else None, superresolve=superresolve)


@torch.no_grad()
def render_ws_views(
    generator: PanoHeadGenerator,
    ws: torch.Tensor,
    cameras: torch.Tensor,
    adapt_z: torch.Tensor | None = None,
    superresolve: bool = False,
    background_ws: torch.Tensor | None = None,
    neural_resolution: int | None = None,
    with_background: bool = True,
) -> dict[str, torch.Tensor]:
    """:func:`render_views` for heads already mapped: ws (B, num_ws, w_dim), e.g. an edited head.

    ``adapt_z`` (B, z_dim): shift the cameras by the self-adaptation offset of these latents;
    ``background_ws`` (B, Nb, w_dim): the background's own ws (style mixing), else ``ws``;
    ``with_background`` False: zero features behind the head instead of the background network's
    (which is not run), so ``image_raw`` equals ``head_rgb``.
    """
    heads = ws.shape[0]
    if cameras.ndim == 2:
        cameras = cameras.unsqueeze(0).expand(heads, -1, -1)
    views = cameras.shape[1]
    planes = sampling_layout(generator.synthesize_planes(ws))
    if with_background:
        background = generator.synthesize_background(ws if background_ws is None else background_ws)
    else:
        background = planes.new_zeros(heads, generator.config.plane_channels, 1, 1)
    ws_v, planes_v, background_v = per_view(ws, views), per_view(planes, views), per_view(background, views)
    flat_cameras = requested = cameras.reshape(heads * views, -1)
    if adapt_z is not None:
        offset = generator.camera_offset(adapt_z.repeat_interleave(views, dim=0), flat_cameras)
        flat_cameras = generator.apply_camera_offset(flat_cameras, offset)
    out = generator.render(
        planes_v,
        ws_v,
        flat_cameras,
        background=background_v,
        superresolve=superresolve,
        bounds_camera=requested,
        neural_resolution=neural_resolution,
    )
    out["head_rgb"] = head_colour(generator, out, ws_v)
    out["cameras"] = flat_cameras
    return out


def per_view(tensor: torch.Tensor | None, views: int) -> torch.Tensor | None:
    """(B, ...) -> (B * views, ...), each head repeated for its views (head-major). For one head a view
    of the same memory: the tri-grid of a head is not copied for each of its views."""
    if tensor is None:
        return None
    return tensor.unsqueeze(1).expand(-1, views, *tensor.shape[1:]).flatten(0, 1)


def head_colour(generator: PanoHeadGenerator, out: dict[str, torch.Tensor], ws: torch.Tensor) -> torch.Tensor:
    """RGB of the volume-rendered head without the 2D background: to_rgb(I_r) (B, 3, n, n).

    The background is one 2D image that does not turn with the camera, so it would bias any
    comparison between views; I_r holds only what the 3D head itself renders (Eq. 3 without I_bg).
    """
    return generator.to_rgb(out["foreground"], ws).float()


def surface_points(cameras: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """World positions (B, 3, n, n) of the rendered surface: ray origin + expected depth * unit direction.

    ``cameras`` (B, 25); ``depth`` (B, 1, n, n) is the renderer's weighted mean distance along each ray.
    """
    batch, _, height, width = depth.shape
    origins, directions = pixel_rays(cameras.float(), height)
    points = origins + depth.float().reshape(batch, height * width, 1) * directions
    return points.transpose(1, 2).reshape(batch, 3, height, width)
