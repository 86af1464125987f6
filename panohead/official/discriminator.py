"""Official discriminator records -> our :class:`~panohead.training.discriminator.TriDiscriminator`.

PanoHead's ``MaskDualDiscriminatorV2`` sees the super-resolved image, the upsampled raw image and the
upsampled mask in [-1, 1] (7 channels); EG3D's ``DualDiscriminator`` is the same network without the
mask (6 channels). Both are camera-conditioned StyleGAN2 ResNet discriminators with a projection
epilogue, which is what our tri-discriminator reproduces.
"""

from __future__ import annotations

import torch

from panohead.checkpoint import skeleton
from panohead.official.architecture import UnsupportedCheckpoint, require
from panohead.official.names import DISCRIMINATOR_RULES, check_layers, map_state
from panohead.official.unpickler import Record, plain
from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator

# Official class name -> whether its input stacks the mask channel.
SUPPORTED_DISCRIMINATORS = {"MaskDualDiscriminatorV2": True, "DualDiscriminator": False}


def discriminator_config(record: Record) -> DiscriminatorConfig:
    """The configuration that rebuilds an official dual discriminator record in our engine."""
    mask = SUPPORTED_DISCRIMINATORS.get(record.class_name)
    if mask is None:
        raise UnsupportedCheckpoint(
            f"discriminator {record.class_name} is not supported (supported: {', '.join(SUPPORTED_DISCRIMINATORS)})"
        )
    state, init = record.state, plain(record.init_kwargs)
    resolution = plain(state.get("img_resolution"))
    channels = plain(state.get("img_channels"))
    if channels != (7 if mask else 6):
        raise UnsupportedCheckpoint(f"discriminator takes {channels} input channels, expected {7 if mask else 6}")
    mbstd = require(record, "b4").child("mbstd")
    if mbstd is not None and plain(mbstd.state.get("group_size")) is None:
        raise UnsupportedCheckpoint("discriminator takes minibatch statistics over the whole batch (group size None)")
    try:
        return DiscriminatorConfig(
            resolution=resolution,
            c_dim=plain(state.get("c_dim")),
            channel_base=int(init.get("channel_base", 32768)),
            channel_max=int(init.get("channel_max", 512)),
            mapping_layers=plain(require(record, "mapping").state.get("num_layers")),
            conv_clamp=plain(require(record, f"b{resolution}.conv0").state.get("conv_clamp")),
            mbstd_group=plain(mbstd.state.get("group_size")) if mbstd is not None else 4,
            mbstd_channels=plain(mbstd.state.get("num_channels")) if mbstd is not None else 0,
            mask_channel=mask,
        )
    except (TypeError, ValueError) as error:
        raise UnsupportedCheckpoint(f"discriminator: {error}") from None


def build_discriminator(record: Record) -> TriDiscriminator:
    """Our tri-discriminator with the architecture and weights of an official discriminator record."""
    config = discriminator_config(record)
    shape = skeleton(lambda: TriDiscriminator(config))  # checked against the file's tensors before allocating
    ours = shape.state_dict()
    unused = {"mapping.w_avg": torch.zeros(ours["mapping.w_avg"].shape)}  # our mapping's unused truncation mean
    state = map_state(record.tensors(), ours, DISCRIMINATOR_RULES, ours_only=unused)
    check_layers(record, shape, DISCRIMINATOR_RULES)
    discriminator = TriDiscriminator(config)
    discriminator.load_state_dict({name: tensor.to(ours[name].dtype) for name, tensor in state.items()})
    return discriminator.eval().requires_grad_(False)
