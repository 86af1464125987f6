"""Synthetic 360-degree head images with exact camera labels and foreground masks.

Scenes (a head from :mod:`panohead.data.heads`, a camera, a background) are drawn per image from
``numpy.random.default_rng([seed, index])`` and rendered in batches by sphere tracing in torch, on
CUDA when the device is CUDA. Cameras are :func:`panohead.camera.orbit_label` (radius 2.7, look-at
(0, 0, 0.2), focal 4.2647) and rays :func:`panohead.camera.pixel_rays`, so the labels are exactly the
cameras a generator renders with.

Rendering, per ray:

* march ``t += 0.8 * sdf`` inside the scene's bounding box (0.8 because the ellipsoid and curl
  distances are bounds, so full steps could overshoot); a hit is a distance below a quarter pixel;
* the mask's anti-aliased edge comes from the closest approach of rays that miss:
  ``alpha = clamp(0.5 - d / pixel_footprint, 0, 1)``;
* shading: a tinted key light from a per-head world direction with soft shadows (a short march
  towards the light) and per-channel wrapped Lambert (redder past the terminator in skin), a fill
  light, sky/ground ambient with two-sample ambient occlusion, a soft rim, and highlights (Blinn per
  material, across the strands for hair).

``jitter`` mimics the alignment drift of real large-yaw crops (the paper's motivation for camera
self-adaptation): images with |yaw| above 60 degrees are rendered with a randomly scaled and shifted
crop (focal and principal point perturbed), while the stored label stays the un-jittered camera.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from panohead.camera import DEFAULT_FOCAL, DEFAULT_LOOK_AT, DEFAULT_RADIUS, orbit_label, pixel_rays
from panohead.data.heads import (
    Params,
    ParamTable,
    bounds,
    head_parts,
    sample_head,
    scene_distance,
    stack_params,
    surface_albedo,
)
from panohead.data.sdf import Vec, smoothstep
from panohead.data.writer import DatasetWriter
from panohead.images import to_uint8

YawDistribution = Literal["uniform", "ffhq"]  # camera yaws: all round evenly, or mostly frontal like FFHQ
YAW_DISTRIBUTIONS: tuple[YawDistribution, ...] = get_args(YawDistribution)
BOX_LOW = (-0.42, -0.66, -0.32)
BOX_HIGH = (0.42, 0.42, 0.5)
MAX_STEPS = 64
COMPACT_EVERY = 4  # sphere-tracing steps between compactions of the active rays (MAX_STEPS is a multiple)
STEP_FACTOR = 0.8
NOISE_OCTAVES = (4, 8, 16)
BLOBS = 5
BACKGROUND_KINDS = 5
BATCHES_AHEAD = 2  # batches each device renders ahead of the one being encoded and written
ENCODERS = min(8, os.cpu_count() or 1)  # PNG encoding threads (zlib releases the GIL)


@dataclass(frozen=True)
class SynthSettings:
    """How images are drawn: resolution, camera distribution (degrees) and crop jitter."""

    resolution: int = 128
    yaw_mode: YawDistribution = "ffhq"
    pitch_range: tuple[float, float] = (-20.0, 20.0)
    jitter: float = 0.0
    supersample: int = 1

    def __post_init__(self):
        if self.yaw_mode not in YAW_DISTRIBUTIONS:
            raise ValueError(f"yaw mode {self.yaw_mode!r} is not one of {', '.join(YAW_DISTRIBUTIONS)}")
        low, high = self.pitch_range
        if not -89.0 <= low <= high <= 89.0:
            raise ValueError(f"pitch range {low:g}..{high:g} must be ordered and within -89..89 degrees")
        if self.resolution < 8:
            raise ValueError(f"resolution {self.resolution} is too small (at least 8 pixels)")
        if not 0.0 <= self.jitter <= 0.5:
            raise ValueError(f"jitter {self.jitter:g} must be between 0 and 0.5")
        if self.supersample < 1:
            raise ValueError(f"supersample {self.supersample} must be at least 1")


def sample_camera(rng: np.random.Generator, settings: SynthSettings) -> Params:
    """Yaw/pitch in degrees (yaw in -180..180, as :func:`panohead.views.camera.orbit_camera` takes
    them) and the crop jitter (focal scale, centre shift) of one image.

    'ffhq' mimics FFHQ-F's front-heavy yaw distribution with a long tail to the back: 75% from a
    normal of 22 degrees around the front, 25% uniform over the whole circle. 'uniform' covers 360
    degrees evenly. The yaw is drawn in radians, as datasets have always been drawn: the same seed
    gives the same labels, bit for bit (back in radians, float64, the yaw rounds to the same float32).
    """
    if settings.yaw_mode == "uniform" or rng.uniform() < 0.25:
        yaw = rng.uniform(-math.pi, math.pi)
    else:
        yaw = float(np.clip(rng.normal(0.0, math.radians(22.0)), -math.pi, math.pi))
    pitch = rng.uniform(*settings.pitch_range)
    ramp = float(np.clip((abs(yaw) - math.radians(60)) / math.radians(60), 0.0, 1.0)) * settings.jitter
    crop = np.array([1.0 + ramp * rng.uniform(-1, 1), 0.5 * ramp * rng.uniform(-1, 1), 0.5 * ramp * rng.uniform(-1, 1)])
    return {"yaw": np.array(math.degrees(yaw)), "pitch": np.array(pitch), "crop": crop}


def sample_background(rng: np.random.Generator) -> Params:
    """A gradient, a noise texture, a field of soft colour blobs, a lit studio backdrop or a wall with
    panels over a floor (one-hot ``kind``)."""

    def colour():
        hue, sat, val = rng.uniform(), rng.uniform(0.0, 0.7), rng.uniform(0.15, 0.95)
        k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
        return val - val * sat * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)

    return {
        "kind": np.eye(BACKGROUND_KINDS)[rng.integers(BACKGROUND_KINDS)],
        "colour_a": colour(),
        "colour_b": colour(),
        "angle": np.array(rng.uniform(0, 2 * math.pi)),
        "noise": rng.uniform(0, 1, sum(n * n for n in NOISE_OCTAVES)),
        "blob_centres": rng.uniform(0, 1, (BLOBS, 2)),
        "blob_radii": rng.uniform(0.1, 0.45, BLOBS),
        "blob_colours": np.stack([colour() for _ in range(BLOBS)]),
    }


def render_backgrounds(backgrounds: ParamTable, resolution: int) -> torch.Tensor:
    """(B, 3, R, R) background images in [0, 1]."""
    device = backgrounds.data.device
    batch = len(backgrounds)

    def get(name: str) -> torch.Tensor:
        """(B,) or (B, size)."""
        value = backgrounds[name]
        return value.T if value.ndim == 2 else value

    centres = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    colour_a = get("colour_a")[:, :, None, None]
    colour_b = get("colour_b")[:, :, None, None]
    angle = get("angle")[:, None, None]
    ramp = ((u - 0.5) * torch.cos(angle) + (v - 0.5) * torch.sin(angle)) * 1.2 + 0.5
    gradient = torch.lerp(colour_a, colour_b, ramp.clamp(0, 1)[:, None])

    noise, start = torch.zeros(batch, 1, resolution, resolution, device=device), 0
    for weight, size in zip((0.5, 0.3, 0.2), NOISE_OCTAVES, strict=True):
        grid = get("noise")[:, start : start + size * size].reshape(batch, 1, size, size)
        noise += weight * F.interpolate(grid, size=(resolution, resolution), mode="bicubic", align_corners=False)
        start += size * size
    texture = torch.lerp(colour_a, colour_b, noise.clamp(0, 1))

    field = colour_a.expand(batch, 3, resolution, resolution)
    blob_centres = get("blob_centres").reshape(batch, BLOBS, 2)
    blob_colours = get("blob_colours").reshape(batch, BLOBS, 3)
    for blob in range(BLOBS):
        distance = (
            (u - blob_centres[:, blob, 0, None, None]) ** 2 + (v - blob_centres[:, blob, 1, None, None]) ** 2
        ).sqrt()
        radius = get("blob_radii")[:, blob, None, None]
        weight = ((radius - distance) / (0.4 * radius)).clamp(0, 1)[:, None]
        field = torch.lerp(field, blob_colours[:, blob, :, None, None], weight)

    # Studio: a pool of light around the first blob centre, falling off to a darker backdrop.
    spot = blob_centres[:, 0, :, None, None]
    falloff = (((u - spot[:, 0]) ** 2 + (v - spot[:, 1]) ** 2).sqrt() / 0.9).clamp(0, 1) ** 1.5
    studio = torch.lerp(colour_a, colour_b * 0.35, falloff[:, None])

    # Room: a wall with panel seams above a floor that darkens towards the camera.
    radii = get("blob_radii")
    horizon = (0.55 + 0.8 * (radii[:, 0] - 0.1))[:, None, None]
    panels = (2.0 + 8.0 * radii[:, 1])[:, None, None]
    seam = smoothstep(0.03, 0.015, torch.remainder(u * panels, 1.0))
    wall = colour_a * (1.0 - 0.25 * seam[:, None]) * (0.8 + 0.2 * v[None, None])
    floor = colour_b * (1.0 - 0.5 * ((v - horizon) / (1.0 - horizon)).clamp(0, 1)[:, None])
    room = torch.lerp(wall, floor, smoothstep(-0.004, 0.004, v - horizon)[:, None])

    kind = get("kind")[:, :, None, None, None]
    return kind[:, 0] * gradient + kind[:, 1] * texture + kind[:, 2] * field + kind[:, 3] * studio + kind[:, 4] * room


def jittered_labels(labels: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
    """(B, 25) labels whose intrinsics are scaled by crop[:, 0] and shifted by crop[:, 1:] (normalised)."""
    jittered = labels.clone()
    jittered[:, 16] *= crop[:, 0]
    jittered[:, 20] *= crop[:, 0]
    jittered[:, 18] += crop[:, 1]
    jittered[:, 21] += crop[:, 2]
    return jittered


def _box_span(origins: Vec, directions: Vec) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances (N,) of rays through the scene's bounding box (exit <= entry: a miss)."""
    near, far = [], []
    for o, d, low, high in zip(
        (origins.x, origins.y, origins.z), (directions.x, directions.y, directions.z), BOX_LOW, BOX_HIGH, strict=True
    ):
        inverse = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
        a, b = (low - o) * inverse, (high - o) * inverse
        near.append(torch.minimum(a, b))
        far.append(torch.maximum(a, b))
    return torch.stack(near).amax(dim=0).clamp_min(0.0), torch.stack(far).amin(dim=0)


def _bound_span(
    origins: Vec, directions: Vec, heads: ParamTable, head_of_ray: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances (N,) of rays through the hull of their head's :func:`bounds`
    ellipsoids (exit <= entry: a miss), solved in closed form in head-local coordinates."""
    centre, scale = heads["centre"], heads["scale"]
    o = (origins - Vec(centre[0][head_of_ray], centre[1][head_of_ray], centre[2][head_of_ray])) / scale[head_of_ray]
    d = directions / scale[head_of_ray]  # same ray parameter t in both frames
    near = torch.full_like(d.x, float("inf"))
    far = torch.full_like(d.x, -float("inf"))
    for middle, radii in bounds(heads):
        middle, radii = middle.take(head_of_ray), radii.take(head_of_ray)
        oe, de = (o - middle) / radii, d / radii
        a, b, c = de.dot(de), oe.dot(de), oe.dot(oe) - 1.0
        disc = b * b - a * c
        root = disc.clamp_min(0.0).sqrt()
        hit = disc > 0
        near = torch.where(hit, torch.minimum(near, (-b - root) / a), near)
        far = torch.where(hit, torch.maximum(far, (-b + root) / a), far)
    return near, far


def trace(
    origins: Vec, directions: Vec, heads: ParamTable, head_of_ray: torch.Tensor, footprint: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sphere-trace rays (N,) against their heads.

    Returns the distance along each ray to shade at (the hit, or the closest approach for a miss) and
    the coverage alpha (N,) in [0, 1]. ``footprint`` (N,) is the pixel size per unit of distance.
    Active rays are compacted every few steps so finished rays cost nothing.
    """
    t, t_exit = _box_span(origins, directions)
    near, far = _bound_span(origins, directions, heads, head_of_ray)
    t, t_exit = torch.maximum(t, near), torch.minimum(t_exit, far)
    best_ratio = torch.full_like(t, float("inf"))
    best_t = t.clone()
    hit = torch.zeros_like(t, dtype=torch.bool)
    done = t_exit <= t  # missed the box or the bounding ellipsoids
    active = (~done).nonzero().squeeze(1)
    for _ in range(0, MAX_STEPS, COMPACT_EVERY):
        active = active[~done[active]]
        if active.numel() == 0:
            break
        o, d, fp, t_end = origins.take(active), directions.take(active), footprint[active], t_exit[active]
        prm = heads.take(head_of_ray[active])
        for _ in range(COMPACT_EVERY):
            t_now = t[active]
            distance = scene_distance(head_parts(o + d * t_now, prm))
            ratio = distance / (t_now * fp)
            closer = ratio < best_ratio[active]
            best_ratio[active] = torch.where(closer, ratio, best_ratio[active])
            best_t[active] = torch.where(closer, t_now, best_t[active])
            now_hit = ratio < 0.25
            t_next = torch.where(now_hit, t_now, t_now + STEP_FACTOR * distance)
            t[active] = t_next
            hit[active] |= now_hit
            done[active] = now_hit | (t_next > t_end)
    alpha = torch.where(hit, torch.ones_like(t), (0.5 - best_ratio).clamp(0.0, 1.0))
    return torch.where(hit, t, best_t), alpha


TETRAHEDRON = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, 1.0))
SHADOW_STEPS = 5
OCCLUSION_STEPS = (0.012, 0.035)


def _figure(points: Vec, heads: ParamTable) -> torch.Tensor:
    return scene_distance(head_parts(points, heads))


def soft_shadow(points: Vec, light: Vec, heads: ParamTable) -> torch.Tensor:
    """(N,) light visibility in [0, 1]: a short march towards the light keeping the smallest
    distance-to-travelled ratio (penumbrae widen with distance from the occluder, Quilez 2010)."""
    t = torch.full_like(points.x, 0.008)
    visibility = torch.ones_like(t)
    for _ in range(SHADOW_STEPS):
        distance = _figure(points + light * t, heads)
        visibility = torch.minimum(visibility, 10.0 * distance / t)
        t = t + distance.clamp(0.01, 0.06)
    return visibility.clamp(0.0, 1.0)


def shade(points: Vec, view: Vec, heads: ParamTable) -> torch.Tensor:
    """(3, N) colours in [0, 1] of surface points seen along unit directions ``view`` (camera -> point).

    Key light with soft shadows and a per-channel wrapped Lambert term, a dimmer fill light from the
    other side, sky/ground ambient with two-sample ambient occlusion, a soft rim, and highlights:
    Blinn-Phong, or across the strands for hair (Kajiya-Kay with the tangent running down the head).
    """
    # One call at the four tetrahedron corners around each point: the distance gradient gives the
    # normal, and the corners' mean is the parts' distances at the point (the offsets sum to zero).
    eps = 0.0015
    count = points.x.shape[0]
    corners = Vec(
        *(
            torch.cat([coordinate + offset[axis] * eps for offset in TETRAHEDRON])
            for axis, coordinate in enumerate((points.x, points.y, points.z))
        )
    )
    corner_parts = head_parts(corners, heads.take(torch.arange(count, device=points.x.device).repeat(4)))
    distance = scene_distance(corner_parts).reshape(4, count)
    normal = Vec(
        *(sum(offset[axis] * distance[corner] for corner, offset in enumerate(TETRAHEDRON)) for axis in range(3))
    ).normalized()
    parts = corner_parts.reshape(len(corner_parts), 4, count).mean(dim=1)
    albedo, specular, shininess, wrap, hair = surface_albedo(points, parts, heads)
    occlusion = sum((_figure(points + normal * step, heads) / step).clamp(0, 1) for step in OCCLUSION_STEPS) / len(
        OCCLUSION_STEPS
    )
    occlusion = 0.35 + 0.65 * occlusion
    light = heads.vec("light")
    key, ambient = heads["light_power"][0], heads["light_power"][1]
    tint = heads["light_colour"]
    shadow = soft_shadow(points + normal * 0.004, light, heads)
    n_dot_l = normal.dot(light)
    diffuse = ((n_dot_l + wrap) / (1.0 + wrap)).clamp_min(0.0) * (0.15 + 0.85 * shadow)
    fill = 0.25 * ((-normal.x * light.x - normal.z * light.z + 0.4) / 1.4).clamp_min(0.0)
    sky = ambient * (0.8 + 0.2 * normal.y) * occlusion
    half = (light - view).normalized()
    blinn = normal.dot(half).clamp_min(0.0) ** shininess
    tangent = (Vec(0.0, 1.0, 0.0) - normal * normal.y).normalized()
    across = (1.0 - tangent.dot(half) ** 2).clamp_min(0.0) ** (0.5 * shininess)
    highlight = specular * key * torch.lerp(blinn, 0.5 * across, hair) * (n_dot_l > 0) * shadow * occlusion
    rim = 0.12 * ambient * (1.0 + normal.dot(view)).clamp(0, 1) ** 3
    colour = (
        albedo * (tint * key * diffuse * (0.6 + 0.4 * occlusion) + sky + (fill * ambient + rim) * occlusion) + highlight
    )
    return colour.clamp(0.0, 1.0)


def render_heads(
    heads: ParamTable, render_labels: torch.Tensor, resolution: int, background: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render B heads through (B, 25) cameras over (B, 3, R, R) backgrounds in [0, 1].

    Returns images (B, 3, R, R) in [0, 1] and masks (B, 1, R, R) in [0, 1].
    """
    batch = render_labels.shape[0]
    origins, directions = pixel_rays(render_labels, resolution)
    origins, directions = Vec.of(origins.reshape(-1, 3)), Vec.of(directions.reshape(-1, 3))
    head_of_ray = torch.arange(batch, device=render_labels.device).repeat_interleave(resolution * resolution)
    footprint = (1.0 / (resolution * render_labels[:, 16])).repeat_interleave(resolution * resolution)
    distance, alpha = trace(origins, directions, heads, head_of_ray, footprint)
    colour = torch.zeros(3, alpha.shape[0], device=alpha.device)
    seen = (alpha > 0).nonzero().squeeze(1)
    if seen.numel():
        view = directions.take(seen)
        colour[:, seen] = shade(origins.take(seen) + view * distance[seen], view, heads.take(head_of_ray[seen]))
    colour = colour.reshape(3, batch, resolution, resolution).transpose(0, 1)
    alpha = alpha.reshape(batch, 1, resolution, resolution)
    return alpha * colour + (1 - alpha) * background, alpha


@dataclass
class SynthBatch:
    """Rendered images (B, 3, R, R) in [-1, 1], masks (B, 1, R, R) in [0, 1], labels (B, 25), angles (B,) degrees."""

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    yaws: torch.Tensor
    pitches: torch.Tensor


def synthesize(
    seed: int,
    indices: list[int] | range,
    settings: SynthSettings = SynthSettings(),
    device: torch.device | str = "cpu",
    yaw: float | None = None,
    pitch: float | None = None,
) -> SynthBatch:
    """Render images ``indices`` of dataset ``seed``; ``yaw``/``pitch`` (degrees) override the sampled camera.

    On the CPU the batch is split over ``torch.get_num_threads()`` Python threads, each running torch
    single-threaded: sphere tracing issues hundreds of small elementwise ops per step, and intra-op
    threading of such ops collapses when the cores are shared with other processes (measured 10x
    slower under load), while one op stream per core does not.
    """
    indices = list(indices)
    workers = min(torch.get_num_threads(), len(indices))
    if torch.device(device).type != "cpu" or workers < 2:
        return _synthesize(seed, indices, settings, device, yaw, pitch)
    bounds = np.linspace(0, len(indices), workers + 1).round().astype(int)
    chunks = [indices[a:b] for a, b in pairwise(bounds)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda chunk: _synthesize(seed, chunk, settings, device, yaw, pitch), chunks))
    finally:
        torch.set_num_threads(threads)
    return SynthBatch(
        *(
            torch.cat([getattr(part, name) for part in parts])
            for name in ("images", "masks", "labels", "yaws", "pitches")
        )
    )


def _synthesize(
    seed: int,
    indices: list[int],
    settings: SynthSettings,
    device: torch.device | str,
    yaw: float | None,
    pitch: float | None,
) -> SynthBatch:
    heads, cameras, backgrounds = [], [], []
    for index in indices:
        rng = np.random.default_rng([seed, index])
        heads.append(sample_head(rng))
        cameras.append(sample_camera(rng, settings))
        backgrounds.append(sample_background(rng))
    head_table = stack_params(heads, device)
    camera_table = stack_params(cameras, device)

    def angles(name: str, override: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) degrees and (B,) radians, converted in float64 before rounding to float32."""
        values = [float(camera[name]) for camera in cameras] if override is None else [override] * len(cameras)
        degrees = np.array(values)
        both = torch.tensor(np.stack([degrees, np.radians(degrees)]), dtype=torch.float32, device=device)
        return both[0], both[1]

    (yaws, yaw_radians), (pitches, pitch_radians) = angles("yaw", yaw), angles("pitch", pitch)
    labels = orbit_label(yaw_radians, pitch_radians, DEFAULT_RADIUS, DEFAULT_LOOK_AT, DEFAULT_FOCAL, device=device)
    size = settings.resolution * settings.supersample
    background = render_backgrounds(stack_params(backgrounds, device), size)
    images, masks = render_heads(head_table, jittered_labels(labels, camera_table["crop"].T), size, background)
    if settings.supersample > 1:
        images = F.avg_pool2d(images, settings.supersample)
        masks = F.avg_pool2d(masks, settings.supersample)
    return SynthBatch(images * 2 - 1, masks, labels, yaws, pitches)


def write_synthetic_dataset(
    out: str | os.PathLike,
    count: int,
    seed: int = 0,
    settings: SynthSettings = SynthSettings(),
    device: torch.device | str | Sequence[torch.device | str] = "cpu",
    batch_size: int = 32,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Render ``count`` images and write them (atomically) as a dataset at ``out`` (folder, or ``.zip``).

    Images are named ``img00000000.png`` ...; masks go to the reader's default sibling location.
    ``progress`` is called with the number of images finished after each batch. Returns ``out``.

    ``device`` may list several devices (GPUs): batches go to them in turn. Each device renders in a
    thread of its own (torch releases the GIL while it launches kernels and waits for them) up to
    :data:`BATCHES_AHEAD` batches ahead, while this thread encodes and writes the finished batches
    in order, so PNG encoding overlaps rendering instead of following it. The images do not depend
    on the batch size or the devices: every image is drawn from its own (seed, index) generator.
    """
    if count < 1:
        raise ValueError(f"count {count} must be at least 1")
    devices = [device] if isinstance(device, (str, torch.device)) else list(device)
    metadata = {"synthetic": {"seed": seed, "count": count, **asdict(settings)}}
    batches = [range(start, min(count, start + batch_size)) for start in range(0, count, batch_size)]

    def render(number: int) -> tuple[range, np.ndarray, np.ndarray, list]:
        target = torch.device(devices[number % len(devices)])
        with torch.no_grad(), torch.cuda.device(target) if target.type == "cuda" else contextlib.nullcontext():
            batch = synthesize(seed, batches[number], settings, target)
            return (
                batches[number],
                to_uint8(batch.images),
                to_uint8(batch.masks, (0.0, 1.0))[..., 0],
                batch.labels.cpu().tolist(),
            )

    with (
        DatasetWriter(out, overwrite=overwrite, metadata=metadata, threads=ENCODERS) as writer,
        ThreadPoolExecutor(max_workers=len(devices)) as renderers,
    ):
        ahead = BATCHES_AHEAD * len(devices)
        pending = deque(renderers.submit(render, number) for number in range(min(ahead, len(batches))))
        submitted = len(pending)
        try:
            while pending:
                indices, images, masks, labels = pending.popleft().result()
                if submitted < len(batches):
                    pending.append(renderers.submit(render, submitted))
                    submitted += 1
                writer.add_batch([f"img{i:08d}.png" for i in indices], images, masks, labels)
                if progress is not None:
                    progress(len(indices))
        finally:
            for future in pending:
                future.cancel()
    return Path(out)
