"""Official generator records -> our :class:`GeneratorConfig`.

Structure is read from the records themselves (sub-module attributes and tensor shapes), with
``init_kwargs``/``rendering_kwargs`` for what only they hold (channel base, rendering ranges). A
PanoHead ``TriPlaneGenerator`` is told apart from EG3D's by its camera self-adaptation network
(``t_mapping``), which only PanoHead's code builds.
"""

from __future__ import annotations

from typing import Any

from panohead.config import GeneratorConfig
from panohead.errors import UserError
from panohead.official.unpickler import Record, plain


class UnsupportedCheckpoint(UserError):
    """The file is an official snapshot, but of a variant we cannot reproduce exactly."""


# The official super-resolution modules whose structure we reproduce (training/superresolution.py),
# and whether their first block upsamples (the 2X and 4X modules start with a SynthesisBlockNoUp).
SUPERRESOLUTION_UPSAMPLES_FIRST = {
    "SuperresolutionHybrid8XDC": True,
    "SuperresolutionHybrid8X": True,
    "SuperresolutionHybrid4X": False,
    "SuperresolutionHybrid2X": False,
}
# Rendering options our renderer does not implement; a checkpoint that turns them on is refused.
_UNSUPPORTED_OPTIONS = {
    "white_back": (False, "white background compositing"),
    "disparity_space_sampling": (False, "disparity-space ray sampling"),
}


def require(record: Record | None, path: str) -> Record:
    """Sub-record at dotted ``path`` below ``record``; a clear error if the structure differs."""
    node = record
    for part in path.split("."):
        node = node.child(part) if isinstance(node, Record) else None
    if node is None:
        raise UnsupportedCheckpoint(f"generator has no '{path}' network")
    return node


def is_panohead(generator: Record) -> bool:
    """PanoHead's TriPlaneGenerator always builds the camera self-adaptation network; EG3D's never does."""
    return generator.child("t_mapping") is not None


def _attribute(record: Record, name: str, where: str) -> Any:
    if name not in record.state:
        raise UnsupportedCheckpoint(f"'{where}' lacks the attribute '{name}'")
    return plain(record.state[name])


def generator_config(generator: Record) -> GeneratorConfig:
    """The configuration that rebuilds ``generator`` (a TriPlaneGenerator record) in our engine."""
    if generator.class_name != "TriPlaneGenerator":
        raise UnsupportedCheckpoint(f"network is a {generator.class_name}, not a TriPlaneGenerator")
    rendering = plain(generator.state.get("rendering_kwargs") or generator.init_kwargs.get("rendering_kwargs") or {})
    init = plain(generator.init_kwargs)
    _check_rendering_options(rendering)
    panohead = is_panohead(generator)

    backbone = require(generator, "backbone.synthesis")
    mapping = require(generator, "backbone.mapping")
    decoder = require(generator, "decoder")
    superres = require(generator, "superresolution")
    depth = int(rendering.get("triplane_depth", 1)) if panohead else 1
    grid_channels = _attribute(backbone, "img_channels", "backbone.synthesis")
    if grid_channels % (3 * depth):
        raise UnsupportedCheckpoint(f"backbone emits {grid_channels} channels, not 3 x C x D for D = {depth}")

    if superres.class_name not in SUPERRESOLUTION_UPSAMPLES_FIRST:
        raise UnsupportedCheckpoint(
            f"super-resolution module {superres.class_name} is not supported "
            f"(supported: {', '.join(SUPERRESOLUTION_UPSAMPLES_FIRST)})"
        )
    sr_blocks = [require(superres, f"block{i}") for i in range(2)]
    background = generator.child("bcg_synthesis")
    hidden = require(decoder, "net.0")
    first_mapping_layer = require(mapping, "fc0")

    values = dict(
        z_dim=_attribute(generator, "z_dim", "G"),
        c_dim=_attribute(generator, "c_dim", "G"),
        w_dim=_attribute(generator, "w_dim", "G"),
        mapping_layers=_attribute(mapping, "num_layers", "backbone.mapping"),
        mapping_lr_multiplier=float(_attribute(first_mapping_layer, "bias_gain", "backbone.mapping.fc0")),
        conditioning_scale=0.0 if rendering.get("c_gen_conditioning_zero") else float(rendering.get("c_scale", 0)),
        plane_resolution=_attribute(backbone, "img_resolution", "backbone.synthesis"),
        grid_depth=depth,
        plane_channels=grid_channels // (3 * depth),
        channel_base=int(init.get("channel_base", 32768)),
        channel_max=int(init.get("channel_max", 512)),
        conv_clamp=_attribute(require(backbone, "b4.conv1"), "conv_clamp", "backbone.synthesis.b4.conv1"),
        # The official PanoHead code samples even a one-plane grid in 3-D (features fade along its normal).
        plane_layout=("panohead-3d" if depth == 1 else "panohead") if panohead else "eg3d",
        decoder_hidden=int(hidden.state["_parameters"]["weight"].shape[0]),
        decoder_lr_multiplier=float(_attribute(hidden, "bias_gain", "decoder.net.0")),
        # EG3D's decoder always squashes colours with a sigmoid; PanoHead's stores its choice.
        decoder_activation=_attribute(decoder, "activation", "decoder") if panohead else "sigmoid",
        raw_to_rgb=generator.child("torgb") is not None,
        neural_resolution=int(generator.state.get("neural_rendering_resolution", 64)),
        ray_start=float(_rendering(rendering, "ray_start")),
        ray_end=float(_rendering(rendering, "ray_end")),
        box_warp=float(_rendering(rendering, "box_warp")),
        samples_coarse=int(_rendering(rendering, "depth_resolution")),
        samples_fine=int(_rendering(rendering, "depth_resolution_importance")),
        # PanoHead's renderer removes density outside |x|, |z| <= box_warp / 2 - 0.1; EG3D's does not.
        crop_margin=0.1 if panohead else 0.0,
        background=background is not None,
        image_resolution=_attribute(generator, "img_resolution", "G"),
        sr_input_resolution=_attribute(superres, "input_resolution", "superresolution"),
        sr_channels=tuple(int(require(block, "conv1").state["_parameters"]["weight"].shape[0]) for block in sr_blocks),
        sr_conv_clamp=_attribute(require(sr_blocks[0], "conv1"), "conv_clamp", "superresolution.block0.conv1"),
        sr_antialias=bool(_attribute(superres, "sr_antialias", "superresolution")),
        sr_upsample_first=SUPERRESOLUTION_UPSAMPLES_FIRST[superres.class_name],
        sr_noise_mode=rendering.get("superresolution_noise_mode", "none"),
        camera_radius=float(rendering.get("avg_camera_radius", 2.7)),
        look_at=tuple(float(v) for v in rendering.get("avg_camera_pivot", (0.0, 0.0, 0.2))),
        camera_adapter=panohead,
    )
    if background is not None:
        values["background_resolution"] = _attribute(background, "img_resolution", "bcg_synthesis")
        values["background_channel_base"] = values["channel_base"] // 2  # official: half the backbone's base
    if values["c_dim"] != 25:
        raise UnsupportedCheckpoint(
            f"generator is conditioned on {values['c_dim']} numbers, not a 25-number camera label"
        )
    if _attribute(generator, "img_channels", "G") != 3:
        raise UnsupportedCheckpoint("generator does not output RGB images")
    try:
        return GeneratorConfig(**values)
    except (TypeError, ValueError) as error:
        raise UnsupportedCheckpoint(str(error)) from None


def _rendering(rendering: dict, key: str) -> Any:
    if key not in rendering:
        raise UnsupportedCheckpoint(f"rendering_kwargs lacks '{key}'")
    value = rendering[key]
    if isinstance(value, str):
        raise UnsupportedCheckpoint(f"rendering_kwargs '{key}' = {value!r} is not supported (numbers only)")
    return value


def _check_rendering_options(rendering: dict) -> None:
    for key, (supported, what) in _UNSUPPORTED_OPTIONS.items():
        if bool(rendering.get(key, supported)) != supported:
            raise UnsupportedCheckpoint(f"{what} (rendering_kwargs '{key}') is not supported")
    if rendering.get("clamp_mode", "softplus") != "softplus":
        raise UnsupportedCheckpoint(
            f"density clamp_mode {rendering['clamp_mode']!r} is not supported (only 'softplus')"
        )
