"""Procedural heads for the synthetic dataset: random parameters, their signed distance field and materials.

Each head is built from analytic primitives (``panohead.data.sdf``) in the generator's world frame
(y up, face towards +z, units of the tri-grid box of side 1, skull centred near (0, 0.02, 0.15) so the
orbit cameras' look-at point (0, 0, 0.2) sits inside the head). Proportions follow the classical
canon: eyes at mid-head height, the face in thirds (hairline-brow, brow-nose base, nose base-chin),
the mouth a third of the way from the nose base to the chin, ears from brow to nose base.

Geometry: skull, jaw, chin and cheekbones; eye sockets with eyeballs under almond-shaped lids; nose
(bridge, tip, wings); upper and lower lips with expressions (smile bends the mouth, an open mouth
shows teeth); ears with a hollow concha; neck and optional shoulders; hair built from one cap, an
optional drape (long, bob), an optional tail (ponytail, bun) and curls (curly, afro); beards and
moustaches; glasses (clear or sunglasses) and hats (beanie, cap with a brim). Materials are painted
in head-local coordinates with solid noise (``panohead.data.noise``): skin tone with blotches,
pores, freckles, blush, stubble and age lines; eyebrows, lash lines and lid creases; iris fibres
and pupils; lip lines; hair strands and greying. The distance is returned per part so the renderer
knows which material a ray hit.

Randomness is drawn per image from ``numpy.random.default_rng([seed, index])`` by the caller, so image
``i`` of a seed is the same whatever the batch size or device.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from panohead.data.noise import value_noise
from panohead.data.sdf import Vec, capsule, ellipsoid, smooth_max, smooth_min, smoothstep, sphere, torus_z

HAIR_STYLES = ("bald", "buzz", "short", "bob", "long", "curly", "afro", "ponytail", "bun")
PARTS = ("skin", "lips", "eyes", "hair", "clothes", "glasses", "hat", "mouth")
OFF = 1.0  # added to a disabled feature's distance: farther than anything in the scene box

SKIN_TONES = np.array(
    [
        [0.98, 0.84, 0.75],
        [0.95, 0.76, 0.63],
        [0.87, 0.64, 0.49],
        [0.76, 0.53, 0.37],
        [0.62, 0.42, 0.28],
        [0.46, 0.30, 0.20],
        [0.32, 0.21, 0.14],
        [0.22, 0.14, 0.10],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.04, 0.035, 0.03],
        [0.12, 0.08, 0.05],
        [0.25, 0.16, 0.09],
        [0.42, 0.27, 0.14],
        [0.55, 0.24, 0.09],
        [0.75, 0.58, 0.34],
        [0.90, 0.80, 0.58],
    ]
)
IRIS_COLOURS = np.array(
    [
        [0.30, 0.17, 0.07],
        [0.12, 0.07, 0.04],
        [0.25, 0.42, 0.62],
        [0.32, 0.44, 0.25],
        [0.42, 0.47, 0.50],
        [0.45, 0.32, 0.14],
    ]
)
# Style probabilities for feminine- and masculine-leaning heads, in HAIR_STYLES order.
STYLE_ODDS = (
    np.array([0.01, 0.01, 0.08, 0.15, 0.33, 0.10, 0.06, 0.15, 0.11]),
    np.array([0.12, 0.15, 0.36, 0.03, 0.08, 0.11, 0.07, 0.05, 0.03]),
)


Params = dict[str, np.ndarray | float]  # one image's parameters by name: a number or a small vector


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
        return self.data[start] if size == 1 else self.data[start : start + size]

    def vec(self, name: str) -> Vec:
        start, size = self.layout[name]
        if size != 3:
            raise ValueError(f"parameter {name!r} has {size} numbers, not 3")
        return Vec(self.data[start], self.data[start + 1], self.data[start + 2])

    def take(self, index: torch.Tensor) -> ParamTable:
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


def _hair(rng: np.random.Generator, style: int, masc: float, age: float) -> Params:
    """Hair geometry of one style as the parameters of the shared hair model (see :func:`_hair_distance`)."""
    u = rng.uniform
    name = HAIR_STYLES[style]
    thickness = {
        "bald": 0.0,
        "buzz": 0.002,
        "curly": u(0.03, 0.045),
        "afro": u(0.06, 0.09),
        "ponytail": u(0.005, 0.01),
        "bun": u(0.005, 0.01),
    }.get(name, u(0.01, 0.022))
    bangs = name in ("bob", "long", "short", "curly") and u() < 0.35
    hairline = u(0.07, 0.11) + 0.05 * masc * age * u(0, 1)
    drape = {
        "long": (u(-0.36, -0.16), u(0.165, 0.185)),
        "bob": (u(-0.13, -0.07), u(0.17, 0.19)),
        "afro": (-0.06, u(0.19, 0.22)),
    }.get(name)
    if name == "ponytail":
        root = np.array([0.0, u(0.0, 0.13), -0.19])
        tail = np.concatenate(
            [root, root + np.array([u(-0.03, 0.03), -u(0.16, 0.3), -u(0.05, 0.09)]), [u(0.035, 0.05), 0.018]]
        )
    elif name == "bun":
        root = np.array([0.0, u(0.06, 0.16), -0.205])
        radius = u(0.045, 0.06)
        tail = np.concatenate([root, root + np.array([0.0, 0.0, -0.015]), [radius, radius]])
    else:
        tail = np.array([0, 0, 0, 0, 0, -0.1, 0.01, 0.01])
    return {
        "hair_off": OFF * (name == "bald"),
        "hair_thickness": thickness,
        "hairline": np.array([u(0.06, 0.085) if bangs else hairline, u(0.25, 0.55) if bangs else 1.73]),
        "nape": u(-0.11, -0.05) if name in ("buzz", "short", "curly") else -0.07,
        "ear_clear": float(name in ("buzz", "short", "ponytail", "bun", "bald")),
        "curls": np.array([{"curly": 0.011, "afro": 0.007}.get(name, 0.0), u(40, 70), u(0, 6.3), u(0, 6.3), u(0, 6.3)]),
        "drape_off": OFF * (drape is None),
        "drape": np.array(drape if drape is not None else (-0.2, 0.17)),
        "tail_off": OFF * (name not in ("ponytail", "bun")),
        "tail": tail,
        "buzz": float(name == "buzz") * u(0.5, 1.0) + float(name == "bald") * masc * u(0.0, 0.4),
    }


def sample_head(rng: np.random.Generator) -> Params:
    """Shape, style, expression, colours and lighting of one head (plain numbers; see :func:`head_parts`)."""
    u = rng.uniform
    masc = float(np.clip((0.82 if u() < 0.5 else 0.18) + rng.normal(0, 0.12), 0, 1))
    age = float(rng.beta(1.4, 2.2))
    style = int(rng.choice(len(HAIR_STYLES), p=STYLE_ODDS[int(masc > 0.5)]))
    hat_kind = rng.choice(3, p=[0.84, 0.08, 0.08])  # none, beanie, cap
    if hat_kind and HAIR_STYLES[style] in ("afro", "curly", "bun"):
        style = HAIR_STYLES.index("short")

    hair = _hsv(rng, (0.6, 0.9), (0.4, 0.8)) if u() < 0.03 else _pick_colour(rng, HAIR_COLOURS, 0.08)
    grey = np.clip((age - 0.35) * 1.6 * u(0.4, 1.3), 0, 1)
    hair = hair + (np.array([0.62, 0.61, 0.60]) * u(0.8, 1.35) - hair) * grey
    skin = _pick_colour(rng, SKIN_TONES, 0.03) * np.array([1.0 + u(-0.03, 0.04), 1.0, 1.0 + u(-0.05, 0.03)])
    light_skin = float(skin.mean() > 0.6)
    lipstick = (1 - masc) * (u() < 0.35)
    lip_colour = np.clip(skin * np.array([0.90, 0.60, 0.60]) + np.array([0.05, 0.0, 0.02]) * u(0.5, 1.5), 0, 1)
    if lipstick:
        lip_colour = _pick_colour(rng, np.array([[0.75, 0.12, 0.15], [0.55, 0.08, 0.12], [0.85, 0.40, 0.45]]), 0.08)

    expression = rng.choice(4, p=[0.42, 0.30, 0.16, 0.12])  # neutral, smile, grin (teeth), open
    smile = (u(-0.15, 0.2), u(0.5, 1.0), u(0.6, 1.0), u(-0.1, 0.3))[expression]
    mouth_open = (0.0, 0.0, u(0.006, 0.011), u(0.01, 0.018))[expression]
    beard = masc > 0.5 and u() < 0.4
    moustache = float(masc > 0.5 and u() < (0.8 if beard else 0.15))
    glasses = u() < 0.22
    sunglasses = float(glasses and u() < 0.3)

    azimuth, elevation = math.radians(u(-150, 150)), math.radians(u(10, 65))
    warmth = u(-1, 1)
    return {
        "centre": np.array([rng.normal(0, 0.004), 0.02 + rng.normal(0, 0.008), 0.15 + rng.normal(0, 0.006)]),
        "scale": u(0.94, 1.04),
        "cranium": np.array([0.146 * u(0.94, 1.06), 0.175 * u(0.96, 1.04), 0.19 * u(0.95, 1.05)]),
        "jaw": np.array(
            [(0.112 + 0.014 * masc) * u(0.93, 1.07), 0.13 * u(0.95, 1.05) * (1 + 0.03 * age), 0.135 * u(0.96, 1.04)]
        ),
        "chin": np.array([u(0.8, 1.15) * (0.9 + 0.25 * masc), u(0.85, 1.2)]),
        "cheekbones": u(0.0, 1.0),
        "nose": np.array(
            [u(0.85, 1.15) * (1 + 0.08 * age), u(0.85, 1.25) * (0.95 + 0.1 * masc), u(0.85, 1.2), u(-1, 1)]
        ),
        "eye": np.array(
            [u(0.046, 0.052), u(0.024, 0.027), u(0.52, 0.68) * (1 - 0.15 * age), u(0.5, 0.62), u(-0.1, 0.25)]
        ),
        "iris_size": u(0.855, 0.88),
        "brow": np.array(
            [u(0.0055, 0.008) * (0.85 + 0.4 * masc), u(-0.002, 0.008) - 0.003 * masc, u(0.4, 1.4), u(0.75, 1.0)]
        ),
        "lips": np.array(
            [
                u(0.036, 0.046) * (1 + 0.1 * smile),
                u(0.006, 0.010) * (1.15 - 0.3 * masc),
                u(0.008, 0.013) * (1.15 - 0.3 * masc),
            ]
        ),
        "expression": np.array([smile, mouth_open, OFF * (mouth_open == 0.0)]),
        "ear": np.array([u(0.88, 1.12), u(0.15, 0.45)]),
        **_hair(rng, style, masc, age),
        "strands": np.array([u(0.7, 1.3), u(0, 100), u(0, 100), u(0, 100)]),
        "beard": np.array([OFF * (not beard), u(0.004, 0.016), u(-0.07, 0.0), OFF * (not moustache)]),
        "stubble": float(masc > 0.5 and not beard) * u(0.0, 1.0) ** 0.7,
        "glasses": np.array([OFF * (not glasses), u(0.026, 0.034), sunglasses]),
        "hat": np.array([OFF * (hat_kind == 0), u(0.075, 0.10), u(0.0, 0.03), OFF * (hat_kind != 2)]),
        "shoulders": float(u() < 0.85),
        "neck": u(0.068, 0.078) + 0.008 * masc,
        "age": age,
        "skin": skin,
        "skin_noise": np.array([u(0, 100), u(0, 100), u(0, 100), u(0.5, 1.5)]),
        "freckles": light_skin * float(u() < 0.25) * u(0.3, 1.0),
        "blush": u(0.0, 1.0) * (1.0 - 0.6 * masc),
        "lip_colour": lip_colour,
        "iris": _pick_colour(rng, IRIS_COLOURS, 0.1),
        "hair_colour": hair,
        "brow_colour": np.clip(np.minimum(hair, 0.35) * u(0.35, 0.8) if grey < 0.7 else hair, 0, 1),
        "clothes": _hsv(rng, (0.1, 0.8), (0.15, 0.9)),
        "clothes_2": _hsv(rng, (0.0, 0.5), (0.2, 1.0)),
        "stripes": np.array([float(u() < 0.3), u(60, 160)]),
        "frame_colour": _pick_colour(
            rng, np.array([[0.04, 0.04, 0.04], [0.35, 0.22, 0.1], [0.7, 0.7, 0.72], [0.5, 0.1, 0.1]]), 0.1
        ),
        "hat_colour": _hsv(rng, (0.1, 0.9), (0.1, 0.85)),
        "light": np.array(
            [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]
        ),
        "light_power": np.array([u(0.7, 1.0), u(0.3, 0.5)]),
        "light_colour": np.array([1.0 + 0.08 * warmth, 1.0, 1.0 - 0.1 * warmth]),
    }


def stack_params(samples: list[Params], device: torch.device | str | None = None) -> ParamTable:
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


MOUTH = (0.0, -0.112, 0.158)


def _eye_centre(prm: ParamTable) -> Vec:
    return Vec(prm["eye"][0], 0.02, 0.143)


def _eye_frame(qs: Vec, prm: ParamTable) -> tuple[Vec, torch.Tensor, torch.Tensor]:
    """Mirrored local points relative to the eye centre, and the almond opening's upper and lower edges (N,)."""
    eye = prm["eye"]
    radius = eye[1]
    e = qs - _eye_centre(prm)
    across = (e.x / (1.15 * radius)).clamp(-1.0, 1.0)
    almond = 1.0 - across * across
    upper = radius * eye[2] * almond + radius * eye[4] * across
    lower = -radius * eye[3] * almond * (1.0 - 0.35 * across) + radius * eye[4] * across
    return e, upper, lower


def _mouth_frame(q: Vec, prm: ParamTable) -> Vec:
    """Local points relative to the mouth centre, bent so a smile lifts the corners."""
    m = q - Vec(*MOUTH)
    return Vec(m.x, m.y - prm["expression"][0] * 8.0 * m.x * m.x, m.z + 1.2 * m.x * m.x)


def _ear(qs: Vec, prm: ParamTable) -> torch.Tensor:
    """Distance to the ears: a flat shell tilted back from the skull, hollowed in the concha."""
    size, angle = prm["ear"][0], prm["ear"][1]
    e = (qs - Vec(0.142, 0.0, -0.012)) / size
    cos, sin = torch.cos(angle), torch.sin(angle)
    e = Vec(e.x * cos - e.z * sin, e.y + 0.08 * e.z, e.x * sin + e.z * cos)
    outer = ellipsoid(e, Vec(0.014, 0.045, 0.029))
    concha = ellipsoid(e - Vec(0.013, -0.004, 0.002), Vec(0.008, 0.03, 0.019))
    return smooth_max(outer, -concha, 0.004) * size


def head_parts(p: Vec, prm: ParamTable) -> torch.Tensor:
    """World points (N,), one head per point -> (len(PARTS), N) distances to each part.

    Head-local frame: face towards +z, eyes at y ~ 0.02, chin at y ~ -0.2, crown at y ~ 0.2.
    Paired features (eyes, ears, lids, cheekbones, glasses rims) use |x| (bilateral symmetry).
    """
    scale = prm["scale"]
    q = to_local(p, prm)
    qs = q.mirror_x()

    # Skull, jaw, chin, cheekbones and brow ridge merged smoothly.
    skin = smooth_min(
        ellipsoid(q - Vec(0.0, 0.03, -0.01), prm.vec("cranium")),
        ellipsoid(q - Vec(0.0, -0.07, 0.045), prm.vec("jaw")),
        0.06,
    )
    chin_width, chin_forward = prm["chin"][0], prm["chin"][1]
    skin = smooth_min(
        skin, ellipsoid(q - Vec(0.0, -0.172, 0.108 + 0.012 * chin_forward), Vec(0.036 * chin_width, 0.03, 0.035)), 0.03
    )
    skin = smooth_min(
        skin, ellipsoid(qs - Vec(0.068, -0.012, 0.118), Vec(0.042, 0.026, 0.04)), 0.02 + 0.015 * prm["cheekbones"]
    )
    skin = smooth_min(skin, ellipsoid(q - Vec(0.0, 0.047, 0.135), Vec(0.1, 0.021, 0.05)), 0.03)

    # Nose: bridge to a rounded tip, with wings either side.
    nose = prm["nose"]
    length, width, forward = nose[0], nose[1], nose[2]
    tip = Vec(0.0, -0.052 * length, 0.172 + 0.03 * forward)
    bridge = capsule(q, Vec(0.0, 0.03, 0.163), tip + Vec(0.0, 0.006, -0.004), 0.0095, 0.012 * width)
    tip_ball = sphere(q - tip - Vec(0.0, -0.003 * nose[3], -0.004), 0.0135 * width)
    wings = ellipsoid(qs - Vec(0.0, tip.y - 0.004, tip.z - 0.022), Vec(0.026 * width, 0.013, 0.018))
    skin = smooth_min(skin, smooth_min(smooth_min(bridge, tip_ball, 0.01), wings, 0.008), 0.02)

    # Eye sockets carved out, eyeballs inside, almond-shaped lids over the top and bottom of each eyeball.
    e, upper, lower = _eye_frame(qs, prm)
    radius = prm["eye"][1]
    skin = smooth_max(skin, -sphere(e, radius + 0.008), 0.006)
    lid_shell = sphere(e, radius + 0.0022)
    lids = smooth_max(lid_shell, torch.minimum(upper - e.y, e.y - lower), 0.0015)
    skin = smooth_min(skin, lids, 0.007)
    eyes = sphere(e, radius)
    ear = _ear(qs, prm)
    skin = smooth_min(skin, ear, 0.01)
    neck = capsule(q, Vec(0.0, -0.08, -0.025), Vec(0.0, -0.45, -0.04), prm["neck"])
    skin = smooth_min(skin, neck, 0.03)

    # Lips (upper and lower), the open mouth's cavity cut through lips and skin, and the inside of the mouth.
    m = _mouth_frame(q, prm)
    lips_size, opening, closed = prm["lips"], prm["expression"][1], prm["expression"][2]
    lip_width = lips_size[0]
    upper_lip = ellipsoid(m - Vec(0.0, 0.5 * opening + 0.006, -0.004), Vec(lip_width, lips_size[1], 0.022))
    lower_lip = ellipsoid(m - Vec(0.0, -0.5 * opening - 0.007, -0.007), Vec(0.9 * lip_width, lips_size[2], 0.023))
    lips = smooth_min(upper_lip, lower_lip, 0.003)
    cavity = ellipsoid(m - Vec(0.0, 0.0, 0.01), Vec(0.8 * lip_width, 0.5 * opening + 0.002, 0.045)) + closed
    lips = smooth_max(lips, -cavity, 0.002)
    skin = smooth_max(skin, -cavity, 0.004)
    mouth = ellipsoid(m - Vec(0.0, 0.0, -0.022), Vec(0.9 * lip_width, 0.028, 0.016))

    torso = ellipsoid(q - Vec(0.0, -0.40, -0.035), Vec(0.27, 0.12, 0.135)) + OFF * (1 - prm["shoulders"])
    clothes = smooth_min(torso, smooth_max(neck - 0.006, q.y + 0.31, 0.01), 0.02)
    hair = torch.minimum(_hair_distance(q, prm, ear), _beard(q, prm, m))

    glasses_off, rim_height, dark = prm["glasses"][0], prm["glasses"][1], prm["glasses"][2]
    g = e - Vec(0.002, 0.004, 0.058)
    rim = torus_z(Vec(g.x, g.y * (0.034 / rim_height), g.z), 0.034, 0.0032)
    lens = torch.maximum(
        torch.sqrt(g.x * g.x + (g.y * (0.034 / rim_height)) ** 2) - 0.034, g.z.abs() - 0.0015
    ) + OFF * (1 - dark)
    bar = capsule(q, Vec(-0.014, 0.028, 0.202), Vec(0.014, 0.028, 0.202), 0.003)
    temple = capsule(qs, Vec(prm["eye"][0] + 0.036, 0.026, 0.196), Vec(0.152, 0.026, -0.01), 0.003)
    glasses = torch.minimum(torch.minimum(rim, lens), torch.minimum(bar, temple)) + glasses_off

    hat = _hat(q, prm)
    return torch.stack([skin, lips, eyes, hair, clothes, glasses, hat, mouth]) * scale


def _hair_distance(q: Vec, prm: ParamTable, ear: torch.Tensor) -> torch.Tensor:
    """Distance to the head hair in local coordinates: a cap behind the hairline, plus drape, tail and curls."""
    cap = ellipsoid(q - Vec(0.0, 0.035, -0.015), prm.vec("cranium") + prm["hair_thickness"])
    # Hairline: hair only above y = height + slope * (z - 0.06) (steep: a bare forehead; shallow: bangs).
    height, slope = prm["hairline"][0], prm["hairline"][1]
    hairline = (height + slope * (q.z - 0.06) - q.y) / torch.sqrt(1.0 + slope * slope)
    cover = smooth_max(smooth_max(cap, hairline, 0.01), prm["nape"] - q.y, 0.02)

    curls = prm["curls"]
    frequency = curls[1]
    bumps = (
        torch.sin(frequency * q.x + curls[2])
        * torch.sin(frequency * q.y + curls[3])
        * torch.sin(frequency * q.z + curls[4])
    )
    cover = cover - curls[0] * bumps

    length, width = prm["drape"][0], prm["drape"][1]
    drape = ellipsoid(q - Vec(0.0, 0.04 + 0.5 * length, -0.045), Vec(width, 0.19 - 0.5 * length, 0.15))
    drape = smooth_max(drape, q.z - 0.05 + 0.45 * (q.y + 0.02).clamp(max=0.0), 0.015) + prm["drape_off"]
    hair = smooth_min(cover, drape, 0.03)

    tail = prm["tail"]
    tail_distance = capsule(q, Vec(tail[0], tail[1], tail[2]), Vec(tail[3], tail[4], tail[5]), tail[6], tail[7])
    hair = smooth_min(hair, tail_distance + prm["tail_off"], 0.03)
    # Short styles are cut around the ears.
    hair = torch.where(prm["ear_clear"] > 0.5, smooth_max(hair, 0.012 - ear, 0.008), hair)
    return hair + prm["hair_off"]


def _beard(q: Vec, prm: ParamTable, m: Vec) -> torch.Tensor:
    """Distance to the beard (a shell over the jaw below the cheeks, open at the mouth) and moustache."""
    beard_off, thickness, top, moustache_off = prm["beard"][0], prm["beard"][1], prm["beard"][2], prm["beard"][3]
    shell = ellipsoid(q - Vec(0.0, -0.075, 0.045), prm.vec("jaw") + Vec(thickness, thickness * 0.6, thickness))
    below_cheeks = q.y - (top - 0.5 * (q.z - 0.12))
    shell = smooth_max(smooth_max(shell, below_cheeks, 0.01), -0.01 - q.z, 0.02)
    lip_width = prm["lips"][0]
    mouth_gap = ellipsoid(m - Vec(0.0, -0.002, 0.02), Vec(lip_width * 1.05, 0.02, 0.05))
    beard = smooth_max(shell, -mouth_gap, 0.006) + beard_off
    moustache = (
        capsule(m, Vec(-0.9 * lip_width, 0.012, 0.012), Vec(0.9 * lip_width, 0.012, 0.012), 0.007) + moustache_off
    )
    return torch.minimum(beard, moustache)


def _hat(q: Vec, prm: ParamTable) -> torch.Tensor:
    """Distance to a beanie or a cap (a crown over the hair cut at the hat line, plus a brim)."""
    hat_off, line, lift, brim_off = prm["hat"][0], prm["hat"][1], prm["hat"][2], prm["hat"][3]
    crown = ellipsoid(q - Vec(0.0, 0.035 + lift, -0.015), prm.vec("cranium") + Vec(0.03, 0.03 + lift, 0.03))
    crown = smooth_max(crown, line + 0.25 * q.z - q.y, 0.004)
    brim = ellipsoid(q - Vec(0.0, line + 0.03, 0.2), Vec(0.1, 0.005, 0.085)) + brim_off
    return torch.minimum(crown, brim) + hat_off


def bounds(prm: ParamTable) -> tuple[tuple[Vec, Vec], ...]:
    """Head-local ellipsoids (centre, semi-axes; (B,) tensors) that together contain each head.

    One around the head, as tight as the head's outermost layer allows (hair and curls, a hat, a
    brim, a tail), and one around the neck, shoulders, chin, beard and long hair. Rays that miss
    both cannot hit, and the others start tracing where they enter, so tight bounds save the steps
    of background rays. ``tests/engine/test_data_synth.py`` checks that sampled heads lie inside them.
    """
    hair = torch.where(prm["hair_off"] > 0.5, 0.0, prm["hair_thickness"] + 1.5 * prm["curls"][0])
    hat = torch.where(prm["hat"][0] > 0.5, 0.0, 0.035 + prm["hat"][2])
    brim = torch.where(prm["hat"][3] > 0.5, 0.0, 0.09)
    tail = torch.where(prm["tail_off"] > 0.5, 0.0, 0.1)
    extra = torch.maximum(torch.maximum(hair, hat), torch.maximum(brim, tail)) + 0.015
    zero = torch.zeros_like(extra)
    head = (Vec(zero, zero, zero - 0.005), Vec(0.205 + extra, 0.25 + extra, 0.265 + extra))
    body = (Vec(zero, zero - 0.45, zero - 0.04), Vec(zero + 0.36, zero + 0.38, zero + 0.36))
    return head, body


def scene_distance(parts: torch.Tensor) -> torch.Tensor:
    """(P, N) part distances -> (N,) distance to the whole figure (lips blended into the skin)."""
    return torch.minimum(smooth_min(parts[0], parts[1], 0.006), parts[2:].amin(dim=0))


# Per material: specular strength, shininess, and diffuse wrap per colour channel (light bleeding past
# the terminator, redder in skin: a cheap stand-in for subsurface scattering).
MATERIALS = {
    "skin": (0.12, 20.0, (0.45, 0.28, 0.22)),
    "lips": (0.3, 35.0, (0.45, 0.3, 0.25)),
    "eyes": (0.9, 120.0, (0.2, 0.2, 0.2)),
    "hair": (0.22, 12.0, (0.25, 0.25, 0.25)),
    "clothes": (0.04, 6.0, (0.3, 0.3, 0.3)),
    "glasses": (0.7, 80.0, (0.1, 0.1, 0.1)),
    "hat": (0.03, 6.0, (0.3, 0.3, 0.3)),
    "mouth": (0.2, 20.0, (0.3, 0.3, 0.3)),
}
SCLERA = (0.92, 0.89, 0.86)
TEETH = (0.93, 0.90, 0.82)
MOUTH_INSIDE = (0.30, 0.07, 0.08)


def _const(values: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, device=like.device)[:, None]


def _skin_colour(q: Vec, prm: ParamTable, eye_distance: torch.Tensor) -> torch.Tensor:
    """(3, N) skin albedo with its painted details (see the module docstring)."""
    qs = q.mirror_x()
    ax = qs.x
    skin = prm["skin"]
    noise = prm["skin_noise"]
    shift = Vec(noise[0], noise[1], noise[2])
    face = smoothstep(0.02, 0.09, q.z)
    blotch = value_noise(q + shift, 0.025)
    pores = value_noise(q + shift, 0.0035)
    colour = skin * (1.0 + 0.22 * noise[3] * (blotch - 0.5)) * (1.0 + 0.25 * (pores - 0.5))
    colour = torch.lerp(colour, colour * _const((1.0, 0.82, 0.8), q.x), (blotch - 0.45).clamp(0, 0.3) * noise[3])

    # Blush on the cheeks and the nose tip; freckles over the nose and cheeks.
    cheek = smoothstep(0.055, 0.0, torch.sqrt((ax - 0.065) ** 2 + (q.y + 0.035) ** 2)) * face
    nose_tip = smoothstep(0.03, 0.0, torch.sqrt(q.x * q.x + (q.y + 0.045) ** 2)) * face
    colour = colour * (1.0 - _const((0.0, 0.16, 0.13), q.x) * (prm["blush"] * cheek + 0.5 * nose_tip))
    freckle_zone = smoothstep(0.09, 0.03, torch.sqrt(q.x * q.x + (q.y + 0.01) ** 2)) * face
    freckle = smoothstep(0.62, 0.7, value_noise(q + shift * 0.7, 0.003)) * freckle_zone * prm["freckles"]
    colour = torch.lerp(colour, skin * _const((0.62, 0.42, 0.3), q.x), 0.7 * freckle)

    # Age: forehead lines, folds from the nose wings to the mouth corners, and shadows under the eyes.
    age = prm["age"]
    wrinkle_amount = ((age - 0.45) * 1.8).clamp(0, 1)
    forehead = smoothstep(0.08, 0.1, q.y) * smoothstep(0.15, 0.13, q.y) * smoothstep(0.08, 0.04, ax) * face
    lines = smoothstep(0.7, 0.95, torch.sin(q.y * 260.0 + 6.0 * blotch))
    fold_line = (ax - (0.027 + 0.45 * (-0.06 - q.y).clamp(0, 0.06))).abs()
    fold = smoothstep(0.004, 0.0, fold_line) * smoothstep(-0.055, -0.065, q.y) * smoothstep(-0.125, -0.11, q.y) * face
    under_eye = smoothstep(
        0.016, 0.0, (q.y - 0.0 + 0.03 * (ax - prm["eye"][0]) ** 2).abs() + 0.4 * (ax - prm["eye"][0]).abs() - 0.01
    )
    darken = wrinkle_amount * (0.12 * lines * forehead + 0.25 * fold) + (0.08 + 0.12 * age) * under_eye * face
    colour = colour * (1.0 - darken)

    # Stubble over the beard area, and buzz-cut or shaved-scalp shadow above the hairline.
    hair_colour = prm["hair_colour"]
    beard_zone = (
        smoothstep(-0.045, -0.075, q.y - 0.3 * (0.12 - q.z).clamp(min=0))
        * smoothstep(-0.02, 0.03, q.z)
        * smoothstep(-0.25, -0.21, q.y)
        * (1.0 - smoothstep(0.03, 0.015, torch.sqrt((q.x / 1.6) ** 2 + (q.y + 0.112) ** 2)))
    )
    stubble = (0.45 + 0.3 * pores) * beard_zone * prm["stubble"]
    colour = torch.lerp(colour, hair_colour * 0.6 + 0.1 * skin, stubble)
    height, slope = prm["hairline"][0], prm["hairline"][1]
    scalp = smoothstep(-0.005, 0.01, q.y - height - slope.clamp(max=1.73) * (q.z - 0.06)) * smoothstep(
        prm["nape"] - 0.01, prm["nape"] + 0.01, q.y
    )
    colour = torch.lerp(
        colour, hair_colour * 0.8 + 0.1 * skin, prm["buzz"] * scalp * (0.4 + 0.5 * smoothstep(0.4, 0.6, pores))
    )

    # Eyebrows: a tapered arch of short strokes.
    eye_spacing = prm["eye"][0]
    brow = prm["brow"]
    thickness, lift, arch = brow[0], brow[1], brow[2]
    across = ((ax - eye_spacing + 0.004) / 0.042).clamp(-1, 1)
    brow_line = 0.058 + lift + 0.009 * arch * (1 - across * across) - 0.006 * across.clamp(min=0)
    taper = thickness * (1.15 - 0.45 * (across + 1) * 0.5)
    strokes = value_noise(Vec(q.x * 0.25, q.y, q.z) + shift, 0.0025)
    brow_mask = (
        smoothstep(0.0, 0.002, taper - (q.y - brow_line).abs())
        * smoothstep(0.098, 0.088, ax)
        * smoothstep(0.006, 0.013, ax)
        * (q.z > 0.08)
    )
    colour = torch.lerp(colour, prm["brow_colour"], brow_mask * brow[3] * (0.65 + 0.6 * (strokes - 0.5)).clamp(0, 1))

    # Lash line along the upper lid, the lid crease above it, a dark line along the lower lid, nostrils.
    e, upper, lower = _eye_frame(qs, prm)
    radius = prm["eye"][1]
    near_eye = smoothstep(0.008, 0.003, eye_distance)
    lash = smoothstep(0.0045, 0.0015, (e.y - upper).abs()) * (e.y > 0) * smoothstep(1.25, 1.0, e.x.abs() / radius)
    crease = (
        smoothstep(0.003, 0.0, (e.y - upper - 0.35 * radius - 0.004).abs())
        * smoothstep(1.2, 0.7, e.x.abs() / radius)
        * (e.z > -0.01)
    )
    lower_line = smoothstep(0.003, 0.001, (e.y - lower).abs()) * (e.y < 0) * smoothstep(1.1, 0.8, e.x.abs() / radius)
    colour = colour * (1.0 - 0.18 * crease - 0.25 * lower_line * near_eye)
    colour = torch.lerp(colour, 0.05 * skin + 0.02, 0.95 * lash * near_eye)
    nose = prm["nose"]
    nostril = (Vec(ax, q.y, q.z) - Vec(0.011 * nose[1], -0.052 * nose[0] - 0.011, 0.168 + 0.03 * nose[2])) / Vec(
        0.007 * nose[1], 0.004, 0.009
    )
    colour = colour * (1.0 - 0.75 * smoothstep(1.0, 0.5, nostril.norm()))
    return colour


def _eye_colour(q: Vec, prm: ParamTable) -> torch.Tensor:
    """(3, N) eyeball albedo: sclera reddening towards the corners, fibrous iris with a dark limbus, pupil."""
    e = q.mirror_x() - _eye_centre(prm)
    direction = e.normalized()
    gaze = direction.z
    iris_edge = prm["iris_size"]
    sclera = _const(SCLERA, q.x) * (1.0 - _const((0.0, 0.12, 0.12), q.x) * smoothstep(0.85, 0.6, gaze))
    angle = torch.atan2(direction.y, direction.x)
    fibres = value_noise(Vec(angle * 0.04, gaze * 0.1, prm["iris_size"]), 0.004)
    ring = (gaze - iris_edge) / (1.0 - iris_edge)
    iris = (
        prm["iris"]
        * (0.7 + 0.6 * fibres)
        * (0.55 + 0.45 * smoothstep(0.0, 0.25, ring))
        * (1.0 + 0.35 * smoothstep(0.5, 0.7, ring))
    )
    colour = torch.lerp(sclera, iris, smoothstep(iris_edge - 0.012, iris_edge + 0.004, gaze))
    return torch.lerp(colour, torch.full_like(colour, 0.02), smoothstep(0.965, 0.972, gaze))


def _hair_colour(q: Vec, prm: ParamTable) -> torch.Tensor:
    """(3, N) hair albedo: noise stretched along the strands (down the head, along the tail or beard)."""
    hair = prm["hair_colour"]
    strands = prm["strands"]
    around = torch.atan2(q.x, q.z + 0.02)
    radial = torch.sqrt(q.x * q.x + (q.z + 0.02) ** 2)
    along = Vec(around * 0.17 * strands[0] + strands[1], q.y * 0.08 + strands[2], radial * 0.3 + strands[3])
    coarse = value_noise(along, 0.006)
    fine = value_noise(along, 0.0022)
    # Strand contrast shrinks for light hair, where dark stripes would read as corduroy.
    contrast = 1.0 - 0.5 * hair.mean(dim=0)
    return (hair * (0.82 + contrast * (0.5 * (coarse - 0.5) + 0.6 * (fine - 0.5)) + 0.12 * (fine - 0.5))).clamp(0, 1)


def _lip_colour(q: Vec, prm: ParamTable) -> torch.Tensor:
    """(3, N) lips with vertical fine lines and a dark mouth line where the lips meet."""
    m = _mouth_frame(q, prm)
    lines = value_noise(Vec(q.x, q.y * 0.1, q.z), 0.002)
    line = smoothstep(0.0018 + 0.5 * prm["expression"][1], 0.0003, m.y.abs())
    lip = prm["lip_colour"] * (0.92 + 0.25 * (lines - 0.5))
    return torch.lerp(lip, prm["lip_colour"] * 0.25, line)


def surface_albedo(
    p: Vec, parts: torch.Tensor, prm: ParamTable
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Material at surface points: (3, N) albedo in [0, 1], (N,) specular strength and shininess,
    (3, N) diffuse wrap, and (N,) hair mask (hair highlights run across the strands).

    The part is the nearest one at ``p``; details are painted in head-local coordinates.
    """
    q = to_local(p, prm)
    part = parts.argmin(dim=0)
    eye_distance = parts[2] / prm["scale"]
    colours = {
        "skin": _skin_colour(q, prm, eye_distance),
        "lips": _lip_colour(q, prm),
        "eyes": _eye_colour(q, prm),
        "hair": _hair_colour(q, prm),
    }
    stripes, stripe_frequency = prm["stripes"][0], prm["stripes"][1]
    colours["clothes"] = torch.lerp(prm["clothes"], prm["clothes_2"], (torch.sin(stripe_frequency * q.y) > 0) * stripes)
    e = q.mirror_x() - _eye_centre(prm)
    in_lens = (torch.sqrt(e.x * e.x + (e.y * 0.034 / prm["glasses"][1]) ** 2) < 0.031).float() * prm["glasses"][2]
    colours["glasses"] = torch.lerp(prm["frame_colour"], torch.full_like(prm["frame_colour"], 0.04), in_lens)
    hat_line = prm["hat"][1]
    band = smoothstep(0.0, 0.002, 0.035 - (q.y - hat_line - 0.25 * q.z)) * (prm["hat"][3] > 0.5)
    colours["hat"] = prm["hat_colour"] * (0.85 + 0.3 * value_noise(q * Vec(1.0, 0.2, 1.0), 0.003)) * (1.0 - 0.25 * band)
    m = _mouth_frame(q, prm)
    teeth = smoothstep(-0.1, 0.3, m.y / (prm["expression"][1] + 1e-3)) * smoothstep(
        0.75, 0.6, m.x.abs() / prm["lips"][0]
    )
    colours["mouth"] = torch.lerp(_const(MOUTH_INSIDE, q.x), _const(TEETH, q.x), teeth)

    albedo = torch.zeros(3, part.shape[0], device=part.device)
    specular = torch.zeros_like(q.x)
    shininess = torch.ones_like(q.x)
    wrap = torch.zeros_like(albedo)
    for index, name in enumerate(PARTS):
        chosen = part == index
        albedo = torch.where(chosen, colours[name], albedo)
        strength, power, spread = MATERIALS[name]
        specular = torch.where(chosen, strength, specular)
        shininess = torch.where(chosen, power, shininess)
        wrap = torch.where(chosen, _const(spread, q.x), wrap)
    return albedo, specular, shininess, wrap, (part == PARTS.index("hair")).float()
