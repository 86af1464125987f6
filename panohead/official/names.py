"""Official parameter names -> ours, exhaustively, plus checks of the layer attributes we rely on.

Every official tensor is either renamed onto one of our tensors or, for the ``resample_filter``
buffers, checked to equal our [1, 3, 3, 1] binomial filter and consumed. Loading fails, listing the
names, if any official tensor is left over or any of ours is left unfilled (our discriminator's
mapping network carries a ``w_avg`` buffer it never uses; that one is filled with zeros).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from panohead.nn.layers import EqualConv2d, EqualLinear, ModulatedConv, ModulatedToRGB
from panohead.nn.resample import binomial_filter
from panohead.official.architecture import UnsupportedCheckpoint
from panohead.official.unpickler import Record, plain

# (official prefix pattern, our prefix); the first match renames a name's prefix.
Rules = tuple[tuple[str, str], ...]
GENERATOR_RULES: Rules = (
    (r"backbone\.mapping\.fc(\d+)\.", r"mapping_network.layers.\1."),
    (r"backbone\.mapping\.", "mapping_network."),
    (r"backbone\.synthesis\.b(\d+)\.", r"synthesis.blocks.\1."),
    (r"bcg_synthesis\.b(\d+)\.", r"background.blocks.\1."),
    (r"superresolution\.block(\d+)\.", r"superres.blocks.\1."),
    (r"t_mapping\.fc(\d+)\.", r"camera_adapter.layers.\1."),
    (r"t_mapping\.", "camera_adapter."),
    (r"decoder\.net\.0\.", "decoder.hidden."),
    (r"decoder\.net\.2\.", "decoder.out."),
    (r"torgb\.", "raw_to_rgb."),
)
# MaskDualDiscriminatorV2 / DualDiscriminator -> TriDiscriminator: b4 is the epilogue.
DISCRIMINATOR_RULES: Rules = (
    (r"b4\.", "epilogue."),
    (r"b(\d+)\.", r"blocks.\1."),
    (r"mapping\.fc(\d+)\.", r"mapping.layers.\1."),
    (r"mapping\.embed\.", "mapping.embed."),
)
FILTER_SUFFIX = "resample_filter"


def our_name(official: str, rules: Rules = GENERATOR_RULES) -> str | None:
    """Our name for an official tensor or module path (None when no rule covers it)."""
    for pattern, replacement in rules:
        match = re.match(pattern, official + ".")
        if match:
            return (match.expand(replacement) + (official + ".")[match.end() :]).rstrip(".")
    return None


def map_state(
    official: dict[str, torch.Tensor],
    ours: dict[str, torch.Tensor],
    rules: Rules = GENERATOR_RULES,
    ours_only: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Rename ``official`` tensors onto the keys of ``ours`` (our state_dict), checking names and shapes.

    ``ours_only`` fills our tensors that have no official counterpart (with their documented values).
    """
    mapped: dict[str, torch.Tensor] = dict(ours_only or {})
    unexpected: list[str] = []
    for name, tensor in official.items():
        if name.endswith(FILTER_SUFFIX):
            _check_filter(name, tensor)
            continue
        target = our_name(name, rules)
        if target is None or target not in ours or target in (ours_only or {}):
            unexpected.append(name)
            continue
        if tuple(tensor.shape) != tuple(ours[target].shape):
            raise UnsupportedCheckpoint(
                f"tensor {name} has shape {tuple(tensor.shape)}, expected {tuple(ours[target].shape)} for {target}"
            )
        mapped[target] = tensor
    missing = sorted(set(ours) - set(mapped))
    if unexpected or missing:
        raise UnsupportedCheckpoint(
            f"parameters do not match the architecture (unexpected official tensors: {_listing(unexpected)}; "
            f"ours left unfilled: {_listing(missing)})"
        )
    return mapped


def _listing(names: list[str], limit: int = 6) -> str:
    if not names:
        return "none"
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_filter(name: str, tensor: torch.Tensor) -> None:
    expected = binomial_filter()
    if tuple(tensor.shape) != tuple(expected.shape) or not torch.allclose(tensor.float(), expected, atol=1e-7):
        raise UnsupportedCheckpoint(f"{name} is not the [1, 3, 3, 1] resampling filter our layers use")


def check_layers(network: Record, model: nn.Module, rules: Rules = GENERATOR_RULES) -> None:
    """Compare the attributes that shape each official layer's arithmetic with our layer's.

    Tensor names and shapes do not capture learning-rate gains, activations, clamps or upsampling;
    a mismatch there would load silently and render something else, so it is refused here.
    """
    modules = dict(model.named_modules())
    for path, record in network.walk():
        target = our_name(path, rules)
        ours = modules.get(target) if target else None
        if record.class_name == "FullyConnectedLayer":
            _expect(path, isinstance(ours, EqualLinear), "a fully connected layer")
            _same(path, "activation", plain(record.state.get("activation")), ours.activation)
            _close(path, "weight_gain", record.state.get("weight_gain"), ours.weight_gain)
            _close(path, "bias_gain", record.state.get("bias_gain"), ours.bias_gain)
        elif record.class_name == "SynthesisLayer":
            _expect(path, isinstance(ours, ModulatedConv), "a modulated convolution")
            _same(path, "activation", plain(record.state.get("activation")), "lrelu")
            _same(path, "use_noise", plain(record.state.get("use_noise")), True)
            _same(path, "up", plain(record.state.get("up")), 2 if ours.up else 1)
            _same(path, "conv_clamp", _number(record.state.get("conv_clamp")), _number(ours.conv_clamp))
        elif record.class_name == "ToRGBLayer":
            _expect(path, isinstance(ours, ModulatedToRGB), "a to-RGB layer")
            _same(path, "conv_clamp", _number(record.state.get("conv_clamp")), _number(ours.conv_clamp))
            _close(path, "weight_gain", record.state.get("weight_gain"), ours.weight_gain)
        elif record.class_name == "Conv2dLayer":
            _expect(path, isinstance(ours, EqualConv2d), "a convolution")
            _same(path, "activation", plain(record.state.get("activation")), ours.activation)
            _same(path, "up", plain(record.state.get("up")), 1)
            _same(path, "down", plain(record.state.get("down")), 2 if ours.down else 1)
            _same(path, "conv_clamp", _number(record.state.get("conv_clamp")), _number(ours.conv_clamp))
            _close(path, "weight_gain", record.state.get("weight_gain"), ours.weight_gain)
        elif record.class_name in ("SynthesisBlock", "SynthesisBlockNoUp"):
            _same(path, "architecture", plain(record.state.get("architecture")), "skip")
        elif record.class_name in ("DiscriminatorBlock", "DiscriminatorEpilogue"):
            _same(path, "architecture", plain(record.state.get("architecture")), "resnet")


def _number(value) -> float | None:
    value = plain(value)
    return None if value is None else float(value)


def _expect(path: str, condition: bool, what: str) -> None:
    if not condition:
        raise UnsupportedCheckpoint(f"official layer '{path}' has no counterpart that is {what}")


def _same(path: str, attribute: str, official, ours) -> None:
    if official != ours:
        raise UnsupportedCheckpoint(f"'{path}' has {attribute} = {official!r}; ours reproduces {ours!r}")


def _close(path: str, attribute: str, official, ours: float) -> None:
    official = _number(official)
    if official is None or not math.isclose(official, ours, rel_tol=1e-6):
        raise UnsupportedCheckpoint(f"'{path}' has {attribute} = {official!r}; ours reproduces {ours!r}")
