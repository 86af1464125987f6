"""Shared by the inversion tests: a tiny generator whose images stay in [-1, 1], and PSNR."""

from __future__ import annotations

import functools
import math

import torch
from PIL import Image

from panohead.config import preset
from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.images import to_uint8
from panohead.inversion import Portrait
from panohead.views.camera import orbit_camera


@functools.lru_cache(maxsize=1)
def calibrated_tiny_generator() -> PanoHeadGenerator:
    """The ``tiny`` preset with its RGB output layers scaled so renders have std 0.35 (an untrained
    model's colours overshoot [-1, 1] several times, and saving a target to 8 bits would clip them)."""
    torch.manual_seed(0)
    generator = PanoHeadGenerator(preset("tiny")).eval().requires_grad_(False)
    with torch.no_grad():
        scale = 0.35 / generator(seed_latent(1, generator.config.z_dim), orbit_camera(0.0))["image"].std()
        for layer in [generator.raw_to_rgb] + [block.torgb for block in generator.superres.blocks]:
            layer.weight.mul_(scale)
            layer.bias.mul_(scale)
    return generator


def frontal_target(seed: int = 7) -> tuple[Portrait, torch.Tensor]:
    """A portrait rendered by :func:`calibrated_tiny_generator` from a known z at yaw 0, and its float image
    (1, 3, R, R)."""
    generator = calibrated_tiny_generator()
    label = orbit_camera(0.0)
    with torch.no_grad():
        image = generator(seed_latent(seed, generator.config.z_dim), label)["image"]
    crop = Image.fromarray(to_uint8(image[0]))
    return Portrait(crop, label[0].numpy()), image.clamp(-1, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak-to-peak 2)."""
    return 10 * math.log10(4.0 / float((a - b).square().mean()))


def state_equal(a: torch.nn.Module, b_state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(t, b_state[k]) for k, t in a.state_dict().items())


__all__ = ["frontal_target", "psnr", "state_equal", "calibrated_tiny_generator"]
