"""The small MLP that turns an aggregated tri-grid feature into density and colour features."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from panohead.nn.layers import EqualLinear, leaky_relu_gain

# What squashes the colour features: nothing (PanoHead), EG3D's sigmoid, or the official lrelu option.
DecoderActivation = Literal["none", "sigmoid", "lrelu"]
DECODER_ACTIVATIONS: tuple[DecoderActivation, ...] = get_args(DecoderActivation)


class FeatureDecoder(nn.Module):
    """feature (C) -> hidden (softplus) -> 1 density logit + C colour features.

    The density is returned before activation; the ray marcher applies softplus(sigma - 1).
    With ``activation='sigmoid'`` (EG3D) features are squashed to (-0.001, 1.001); ``'lrelu'`` is the
    official code's StyleGAN2-style option (leaky ReLU times sqrt(2)).
    """

    def __init__(
        self, channels: int, hidden: int = 64, lr_multiplier: float = 1.0, activation: DecoderActivation = "none"
    ) -> None:
        super().__init__()
        self.activation = activation
        self.hidden = EqualLinear(channels, hidden, lr_multiplier=lr_multiplier)
        self.out = EqualLinear(hidden, 1 + channels, lr_multiplier=lr_multiplier)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., C) -> density logits (..., 1), colour features (..., C)."""
        x = self.out(torch.nn.functional.softplus(self.hidden(features)))
        density, colour = x[..., :1], x[..., 1:]
        if self.activation == "sigmoid":
            colour = torch.sigmoid(colour) * (1 + 2 * 0.001) - 0.001
        elif self.activation == "lrelu":
            colour = leaky_relu_gain(colour)
        return density, colour

    def density(self, features: torch.Tensor) -> torch.Tensor:
        """(..., C) -> density logits (..., 1) alone, skipping the C colour outputs (meshes need millions)."""
        out = self.out
        hidden = torch.nn.functional.softplus(self.hidden(features))
        return torch.nn.functional.linear(hidden, out.weight[:1] * out.weight_gain, out.bias[:1] * out.bias_gain)
