"""Inversion (PanoHead Sec. 4.4): a portrait photo, or several of one head -> a latent and a tuned generator.

portrait = prepare_portrait(load_image("me.jpg"), G.config)        # detect, align, estimate camera
result = invert(G, portrait, InversionSettings(steps=500, pti_steps=350))
result = invert(G, [front, side, back], settings.replace(space="w+", refine_cameras=True),
                encoder=load_encoder("encoder.safetensors"))        # encoder start, three photos
result.save_latent("latent.npz"); save_generator("tuned.safetensors", result.generator)
"""

from panohead.inversion.encoder import LatentEncoder, load_encoder
from panohead.inversion.inputs import (
    Portrait,
    adjust_portrait,
    load_image,
    parse_label,
    prepare_portrait,
    target_tensor,
)
from panohead.inversion.perceptual import perceptual_loss
from panohead.inversion.pipeline import InversionResult, invert
from panohead.inversion.progress import InversionStep
from panohead.inversion.settings import SPACES, InversionSettings

__all__ = [
    "InversionResult",
    "InversionSettings",
    "InversionStep",
    "LatentEncoder",
    "Portrait",
    "SPACES",
    "adjust_portrait",
    "invert",
    "load_encoder",
    "load_image",
    "parse_label",
    "perceptual_loss",
    "prepare_portrait",
    "target_tensor",
]
