"""Procedural heads for the synthetic dataset: random parameters and their signed distance field.

Each head is built from analytic primitives (``panohead.data.sdf``) in the generator's world frame
(y up, face towards +z, units of the tri-grid box of side 1, skull centred near (0, 0.02, 0.15) so the
orbit cameras' look-at point (0, 0, 0.2) sits inside the head): skull and jaw, nose, brow ridge, eye
sockets with eyeballs, lips, ears, neck and optional shoulders, one of five hair styles (bald, short,
long, curly volume, pony tail) and optional glasses. The distance is returned per part so the
renderer knows which material a ray hit.

Randomness is drawn per image from ``numpy.random.default_rng([seed, index])`` by the caller, so image
``i`` of a seed is the same whatever the batch size or device.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from panohead.data.sdf import Vec, capsule, ellipsoid, smooth_max, smooth_min, smoothstep, sphere, torus_z

HAIR_STYLES = ("bald", "short", "long", "curly", "ponytail")
PARTS = ("skin", "lips", "eyes", "hair", "clothes", "glasses")

SKIN_TONES = np.array([[0.97, 0.82, 0.72], [0.93, 0.73, 0.60], [0.83, 0.60, 0.45], [0.70, 0.48, 0.33],
                       [0.52, 0.34, 0.23], [0.34, 0.22, 0.15]])
HAIR_COLOURS = np.array([[0.05, 0.04, 0.04], [0.16, 0.10, 0.06], [0.32, 0.20, 0.11], [0.48, 0.20, 0.08],
                         [0.78, 0.62, 0.38], [0.90, 0.85, 0.72], [0.56, 0.55, 0.54]])
IRIS_COLOURS = np.array([[0.33, 0.19, 0.09], [0.14, 0.09, 0.05], [0.30, 0.47, 0.68], [0.33, 0.45, 0.28], [0.45, 0.50, 0.52]])


class ParamTable:
    """Per-head parameters as named row blocks of one (P, B) tensor.

    Rows are contiguous, so a parameter is a ready (B,) operand; :meth:`take` gathers the columns of
    many rays' heads in one indexing operation.
    """

    def __init__(self, layout: dict[str, tuple[int, int]], data: torch.Tensor):
        self.layout = layout
        self.data = data

    def __getitem__(self, name: str) -> torch.Tensor:
        """(B,) for a scalar parameter, (size, B) for a vector one."""
        start, size = self.layout[name]
        return self.data[start] if size == 1 else self.data[start:start + size]

    def vec(self, name: str) -> Vec:
        start, size = self.layout[name]
        if size != 3:
            raise ValueError(f"parameter {name!r} has {size} numbers, not 3")
        return Vec(self.data[start], self.data[start + 1], self.data[start + 2])

    def take(self, index: torch.Tensor) -> "ParamTable":
        return ParamTable(self.layout, torch.index_select(self.data, 1, index))

    def __len__(self) -> int:
        return self.data.shape[1]


def _pick_colour(rng: np.random.Generator, palette: np.ndarray, spread: float) -> np.ndarray:
    """A colour on the polyline through ``palette`` with a little per-channel noise."""
    position = rng.uniform(0, len(palette) - 1)
    low = int(position)
    high = min(low + 1, len(palette) - 1)
    colour = palette[low] + (palette[high] - palette[low]) * (position - low)
    return np.clip(colour * rng.uniform(1 - spread, 1 + spread, 3), 0, 1)


def _hsv(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]) -> np.ndarray:
    hue = rng.uniform(0, 1)
    s, v = rng.uniform(*saturation), rng.uniform(*value)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def sample_head(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Shape, style, colour and lighting of one head (plain numbers; see :func:`head_sdf` for their use)."""
    u = rng.uniform
    style = rng.choice(len(HAIR_STYLES), p=[0.10, 0.30, 0.25, 0.15, 0.20])
    hair = _hsv(rng, (0.6, 0.9), (0.4, 0.8)) if rng.uniform() < 0.08 else _pick_colour(rng, HAIR_COLOURS, 0.08)
    if style == 0 and rng.uniform() < 0.5:
        hair = _pick_colour(rng, HAIR_COLOURS[:3], 0.1)
    skin = _pick_colour(rng, SKIN_TONES, 0.04)
    azimuth, elevation = math.radians(u(-150, 150)), math.radians(u(15, 65))
    return {
        "centre": np.array([rng.normal(0, 0.004), 0.02 + rng.normal(0, 0.008), 0.15 + rng.normal(0, 0.006)]),
        "scale": u(0.93, 1.05),
        "cranium": np.array([0.150 * u(0.93, 1.07), 0.175 * u(0.96, 1.04), 0.19 * u(0.95, 1.05)]),
        "jaw": np.array([0.113 * u(0.88, 1.10), 0.13 * u(0.93, 1.07), 0.135 * u(0.95, 1.05)]),
        "nose": np.array([u(0.8, 1.25), u(0.8, 1.3)]),
        "ear": u(0.85, 1.15),
        "eye": np.array([u(0.044, 0.052), u(0.022, 0.026)]),
        "lips": np.array([u(0.034, 0.048), u(0.011, 0.018)]),
        "brow": np.array([u(0.004, 0.009), u(-0.004, 0.006)]),
        "style": np.eye(len(HAIR_STYLES))[style],
        "hair_thickness": u(0.045, 0.07) if style == 3 else u(0.008, 0.024),
        "hairline": u(0.06, 0.12),
        "hair_length": u(-0.34, -0.14),
        "curl": np.array([u(40, 70), u(0, 6.3), u(0, 6.3), u(0, 6.3)]),
        "pony": np.array([u(-0.02, 0.14), u(0.16, 0.3), u(-0.3, 0.3)]),
        "strands": np.array([u(60, 110), u(0, 6.3)]),
        "glasses": float(rng.uniform() < 0.25),
        "shoulders": float(rng.uniform() < 0.85),
        "skin": skin,
        "lip_colour": np.clip(skin * np.array([0.92, 0.62, 0.62]) + np.array([0.06, 0.0, 0.02]) * u(0.5, 1.5), 0, 1),
        "iris": _pick_colour(rng, IRIS_COLOURS, 0.1),
        "hair_colour": hair,
        "clothes": _hsv(rng, (0.1, 0.8), (0.15, 0.9)),
        "clothes_2": _hsv(rng, (0.0, 0.5), (0.2, 1.0)),
        "stripes": np.array([float(rng.uniform() < 0.3), u(60, 160)]),
        "frame_colour": _pick_colour(rng, np.array([[0.05, 0.05, 0.05], [0.35, 0.22, 0.1], [0.7, 0.7, 0.72]]), 0.1),
        "light": np.array([math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]),
        "light_power": np.array([u(0.65, 0.95), u(0.35, 0.55)]),
    }


def stack_params(samples: list[dict[str, np.ndarray]], device: torch.device | str | None = None) -> ParamTable:
    """Pack per-image parameter dicts (same keys and sizes) into one :class:`ParamTable`."""
    layout, start = {}, 0
    for name, value in samples[0].items():
        size = int(np.size(value))
        layout[name] = (start, size)
        start += size
    columns = [np.concatenate([np.asarray(s[n], dtype=np.float64).reshape(-1) for n in layout]) for s in samples]
    return ParamTable(layout, torch.tensor(np.stack(columns, axis=1), dtype=torch.float32, device=device))


def to_local(p: Vec, prm: ParamTable) -> Vec:
    """World points -> head-local coordinates (skull near the origin, unit = world unit / head scale)."""
    return (p - prm.vec("centre")) / prm["scale"]


def _eye_centre(prm: ParamTable) -> Vec:
    return Vec(prm["eye"][0], 0.02, 0.14)


def head_parts(p: Vec, prm: ParamTable) -> torch.Tensor:
    """World points (N,), one head per point -> (len(PARTS), N) distances to each part.

    Head-local frame: face towards +z, eyes at y ~ 0.02, chin at y ~ -0.2, crown at y ~ 0.2.
    Paired features (eyes, ears, lids, glasses rims) use |x| (bilateral symmetry).
    """
    scale = prm["scale"]
    q = to_local(p, prm)
    qs = q.mirror_x()
    big = torch.full_like(q.x, 10.0)

    # Skull and jaw merged smoothly, plus brow ridge and nose (Hart-style CSG with smooth unions).
    skin = smooth_min(ellipsoid(q - Vec(0.0, 0.03, -0.01), prm.vec("cranium")),
                      ellipsoid(q - Vec(0.0, -0.07, 0.045), prm.vec("jaw")), 0.06)
    skin = smooth_min(skin, ellipsoid(q - Vec(0.0, 0.045, 0.135), Vec(0.105, 0.022, 0.05)), 0.03)
    nose_len, nose_width = prm["nose"][0], prm["nose"][1]
    nose_tip = Vec(0.0, -0.05 * nose_len, 0.17 + 0.03 * nose_len)
    bridge = capsule(q, Vec(0.0, 0.025, 0.165), nose_tip, 0.011, 0.016 * nose_width)
    wings = ellipsoid(q - nose_tip - Vec(0.0, -0.008, -0.02), Vec(0.027 * nose_width, 0.015, 0.02))
    skin = smooth_min(skin, smooth_min(bridge, wings, 0.01), 0.02)

    # Eye sockets carved out, eyeballs inside, lids covering the top and bottom of each eyeball.
    eye_centre = _eye_centre(prm)
    eye_radius = prm["eye"][1]
    to_eye = qs - eye_centre
    skin = smooth_max(skin, -sphere(to_eye - Vec(0.0, 0.0, 0.02), eye_radius * 1.3), 0.01)
    lid_shell = sphere(to_eye, eye_radius + 0.0025)
    lids = smooth_max(lid_shell, torch.minimum(0.25 * eye_radius - to_eye.y, to_eye.y + 0.5 * eye_radius), 0.002)
    skin = smooth_min(skin, lids, 0.004)
    skin = smooth_min(skin, ellipsoid(qs - Vec(0.146, 0.005, -0.01), Vec(0.016, 0.045, 0.028) * prm["ear"]), 0.012)
    neck = capsule(q, Vec(0.0, -0.08, -0.02), Vec(0.0, -0.45, -0.035), 0.066)
    skin = smooth_min(skin, neck, 0.03)

    lips = ellipsoid(q - Vec(0.0, -0.108, 0.158), Vec(prm["lips"][0], prm["lips"][1], 0.028))
    eyes = sphere(to_eye, eye_radius)
    torso = torch.where(prm["shoulders"] > 0.5, ellipsoid(q - Vec(0.0, -0.40, -0.035), Vec(0.27, 0.12, 0.135)), big)
    clothes = smooth_min(torso, smooth_max(neck - 0.006, q.y + 0.31, 0.01), 0.02)
    hair = _hair(q, prm, big)

    rim = torus_z(to_eye - Vec(0.0, 0.005, 0.06), 0.034, 0.0035)
    bar = capsule(q, Vec(-0.02, 0.03, 0.207), Vec(0.02, 0.03, 0.207), 0.003)
    temple = capsule(qs, Vec(prm["eye"][0] + 0.034, 0.028, 0.198), Vec(0.158, 0.028, -0.01), 0.003)
    glasses = torch.where(prm["glasses"] > 0.5, torch.minimum(torch.minimum(rim, bar), temple), big)
    return torch.stack([skin, lips, eyes, hair, clothes, glasses]) * scale


def _hair(q: Vec, prm: ParamTable, big: torch.Tensor) -> torch.Tensor:
    """Distance to the head's hair in local coordinates (``big`` for the bald style)."""
    style = prm["style"]
    cap = ellipsoid(q - Vec(0.0, 0.035, -0.015), prm.vec("cranium") + prm["hair_thickness"])
    # Hairline: a plane tilted forward-down (hair only behind/above it), and a nape line at the back.
    hairline = (q.y - prm["hairline"]) * -0.5 + (q.z - 0.06) * 0.866
    cover = smooth_max(smooth_max(cap, hairline, 0.01), -0.07 - q.y, 0.02)

    curl = prm["curl"]
    bumps = torch.sin(curl[0] * q.x + curl[1]) * torch.sin(curl[0] * q.y + curl[2]) * torch.sin(curl[0] * q.z + curl[3])
    curly = cover - 0.012 * bumps

    length = prm["hair_length"]
    drape = ellipsoid(q - Vec(0.0, 0.04 + 0.5 * length, -0.045), Vec(0.172, 0.19 - 0.5 * length, 0.15))
    drape = smooth_max(drape, q.z - 0.075 + 0.25 * (q.y + 0.02).clamp(max=0.0), 0.015)
    long_hair = smooth_min(cover, drape, 0.03)

    pony = prm["pony"]
    root = Vec(pony[2] * 0.05, pony[0], -0.19 - 0.03 * (1 - pony[0] / 0.14))
    tip = root + Vec(pony[2] * 0.1, -pony[1], -0.06 - 0.1 * pony[1])
    ponytail = smooth_min(cover, capsule(q, root, tip, 0.045, 0.02), 0.03)

    return big * style[0] + cover * style[1] + long_hair * style[2] + curly * style[3] + ponytail * style[4]


def scene_distance(parts: torch.Tensor) -> torch.Tensor:
    """(P, N) part distances -> (N,) distance to the whole figure (lips blended into the skin)."""
    return torch.minimum(smooth_min(parts[0], parts[1], 0.008), parts[2:].amin(dim=0))


SPECULAR = {"skin": (0.10, 18.0), "lips": (0.25, 30.0), "eyes": (0.7, 90.0), "hair": (0.18, 10.0),
            "clothes": (0.04, 6.0), "glasses": (0.6, 60.0)}
SCLERA = (0.93, 0.91, 0.88)


def surface_albedo(p: Vec, parts: torch.Tensor, prm: ParamTable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Material at surface points: (3, N) albedo in [0, 1], (N,) specular strength and shininess.

    The part is the nearest one at ``p``; details are painted in head-local coordinates: eyebrows,
    lashes and cheeks on the skin, the mouth line on the lips, iris and pupil by the angle from the
    gaze (+z), strands on the hair along the meridians, stripes on some clothes.
    """
    q = to_local(p, prm)
    ax = q.x.abs()
    skin = prm["skin"]
    hair_colour = prm["hair_colour"]
    eye_spacing = prm["eye"][0]
    brow_thickness, brow_lift = prm["brow"][0], prm["brow"][1]
    arch = ((ax - eye_spacing) / 0.045).clamp(-1, 1)
    brow_line = 0.062 + brow_lift + 0.012 * (1 - arch * arch) - 0.02 * (ax - eye_spacing).clamp(min=0)
    brow = (smoothstep(0.0, 0.003, brow_thickness - (q.y - brow_line).abs()) * smoothstep(0.095, 0.085, ax)
            * smoothstep(0.008, 0.014, ax) * (q.z > 0.08))
    eye_distance = parts[2] / prm["scale"]
    lashes = smoothstep(0.006, 0.002, eye_distance) * (q.y > 0.02)
    cheek = smoothstep(0.06, 0.0, torch.sqrt((ax - 0.07) ** 2 + (q.y + 0.03) ** 2)) * (q.z > 0.05)
    blush = torch.tensor([0.0, 0.12, 0.1], device=q.x.device)[:, None]
    skin_colour = skin * (1 - blush * cheek)
    skin_colour = torch.lerp(skin_colour, hair_colour * 0.7 + 0.08 * skin, brow)
    colours = {"skin": torch.lerp(skin_colour, 0.12 * skin, lashes)}

    mouth_line = smoothstep(0.0035, 0.0005, (q.y + 0.108).abs())
    colours["lips"] = torch.lerp(prm["lip_colour"], prm["lip_colour"] * 0.35, mouth_line)

    gaze = (q.mirror_x() - _eye_centre(prm)).normalized().z
    sclera = torch.tensor(SCLERA, device=q.x.device)[:, None].expand_as(skin)
    eye_colour = torch.lerp(sclera, prm["iris"], smoothstep(0.86, 0.89, gaze))
    colours["eyes"] = torch.lerp(eye_colour, torch.full_like(skin, 0.03), smoothstep(0.965, 0.975, gaze))

    strand_freq, strand_phase = prm["strands"][0], prm["strands"][1]
    around = torch.atan2(q.x, q.z + 0.02)
    strand = torch.sin(strand_freq * around + 6.0 * torch.sin(7.0 * q.y) + strand_phase)
    fine = torch.sin(3.1 * strand_freq * around + 2.3 * strand_phase)
    # Strand contrast shrinks for light hair, where dark stripes would read as corduroy.
    contrast = 1.0 - 0.6 * hair_colour.mean(dim=0)
    colours["hair"] = (hair_colour * (0.85 + contrast * (0.1 * strand + 0.05 * fine))).clamp(0, 1)

    stripes, stripe_freq = prm["stripes"][0], prm["stripes"][1]
    colours["clothes"] = torch.lerp(prm["clothes"], prm["clothes_2"], (torch.sin(stripe_freq * q.y) > 0) * stripes)
    colours["glasses"] = prm["frame_colour"]

    part = parts.argmin(dim=0)
    albedo = torch.zeros_like(skin)
    specular = torch.zeros_like(q.x)
    shininess = torch.ones_like(q.x)
    for index, name in enumerate(PARTS):
        chosen = part == index
        albedo = torch.where(chosen, colours[name], albedo)
        strength, power = SPECULAR[name]
        specular = torch.where(chosen, strength, specular)
        shininess = torch.where(chosen, power, shininess)
    return albedo, specular, shininess
