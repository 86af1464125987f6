"""Mapping network: (z, camera label) -> w, with the tracked average used for truncation."""

from __future__ import annotations

import torch
from torch import nn

from panohead.nn.layers import EqualLinear, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """MLP from a normalised z concatenated with a normalised embedding of the label c.

    PanoHead conditions w on the camera (Sec. 3.1, "pose conditioning"); the same class with
    ``w_dim=3`` and a linear last layer is the camera self-adaptation network (Sec. 3.4).
    """

    w_avg: torch.Tensor  # (w_dim,) running mean of w, a buffer (truncation pulls towards it)

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 2,
        lr_multiplier: float = 0.01,
        last_linear: bool = False,
        w_avg_beta: float = 0.998,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.embed = EqualLinear(c_dim, w_dim) if c_dim > 0 else None
        widths = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(
                widths[i],
                widths[i + 1],
                lr_multiplier=lr_multiplier,
                activation="linear" if (last_linear and i == num_layers - 1) else "lrelu",
            )
            for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self, z: torch.Tensor, c: torch.Tensor, psi: float = 1.0, cutoff: int | None = None, update_w_avg: bool = False
    ) -> torch.Tensor:
        """(B, z_dim), (B, c_dim) -> (B, num_ws, w_dim); ``psi`` < 1 pulls the first ``cutoff`` ws to w_avg."""
        parts = [normalize_2nd_moment(z.to(torch.float32))] if self.z_dim > 0 else []
        if self.embed is not None:
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for layer in self.layers:
            x = layer(x)
        x = x.float()  # w stays float32 under mixed precision (w_avg and truncation are float32)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x[:, None, :].repeat(1, self.num_ws, 1)
        return truncate(ws, self.w_avg, psi, cutoff)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Truncation trick: w' = w_avg + psi (w - w_avg) on the first ``cutoff`` layers (all if None)."""
    if psi == 1.0:
        return ws
    ws = ws.clone()
    stop = ws.shape[1] if cutoff is None else cutoff
    ws[:, :stop] = w_avg.lerp(ws[:, :stop], psi)
    return ws
