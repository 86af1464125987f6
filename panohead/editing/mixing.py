"""Style mixing: take some of a head's ws from a second latent (StyleGAN, Karras et al. 2019, Sec. 3.1).

Each w row drives the layers of one resolution of a synthesis network, and the resolution decides
what it controls: coarse rows (4-8 px) the overall head shape and pose, middle rows (16-32 px)
features and the shape of the hair, fine rows (64 px and up, plus the last w, which also drives the
raw-to-RGB conversion and super-resolution) colours and texture. The tri-grid backbone
(``G.synthesis``) and the background network (``G.background``) have their own rows and groups.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from panohead.nn.synthesis import SynthesisNetwork

LayerGroup = Literal["coarse", "middle", "fine"]
GROUPS: tuple[LayerGroup, ...] = get_args(LayerGroup)
# Highest block resolution of each group, after StyleGAN's definition.
GROUP_LIMITS: dict[LayerGroup, int] = {"coarse": 8, "middle": 32}

LayerRange = tuple[int, int]  # [start, stop) of w rows


def w_resolutions(network: SynthesisNetwork) -> list[int]:
    """The block resolution each w row (num_ws of them) of a synthesis network drives.

    A block reads ws[offset : offset + num_conv + 1] and advances by num_conv, so the row it hands on
    (its to-RGB w) is the first conv's w of the next block: that row is counted with the next block,
    whose convolutions it modulates; the very last row only feeds the final to-RGB.
    """
    rows: list[int] = []
    for block in network.block_list():
        rows.extend([block.resolution] * block.num_conv)
    rows.append(rows[-1])
    assert len(rows) == network.num_ws
    return rows


def layer_groups(network: SynthesisNetwork) -> dict[LayerGroup, LayerRange]:
    """{'coarse': (start, stop), 'middle': ..., 'fine': ...}, consecutive and covering all rows.

    Groups follow StyleGAN's resolutions (<= 8, 16-32, >= 64). Networks too small for three
    non-empty groups (test models) split their resolutions into three nearly equal runs instead.
    """
    rows = w_resolutions(network)
    middle_start = sum(1 for r in rows if r <= GROUP_LIMITS["coarse"])
    fine_start = sum(1 for r in rows if r <= GROUP_LIMITS["middle"])
    if not 0 < middle_start < fine_start < len(rows):
        levels = sorted(set(rows))
        cut_a, cut_b = levels[len(levels) // 3], levels[(2 * len(levels)) // 3]
        middle_start = sum(1 for r in rows if r < cut_a)
        fine_start = sum(1 for r in rows if r < cut_b)
    return {"coarse": (0, middle_start), "middle": (middle_start, fine_start), "fine": (fine_start, len(rows))}


def group_range(network: SynthesisNetwork, first: LayerGroup, last: LayerGroup | None = None) -> LayerRange:
    """The rows of groups ``first`` through ``last`` (inclusive), e.g. ('middle', 'fine')."""
    groups = layer_groups(network)
    for name in (first, last or first):
        if name not in groups:
            raise ValueError(f"unknown layer group {name!r}; choose one of {', '.join(GROUPS)}")
    return groups[first][0], groups[last or first][1]


def check_range(layers: LayerRange, num_ws: int, what: str) -> LayerRange:
    start, stop = (int(n) for n in layers)
    if not 0 <= start <= stop <= num_ws:
        raise ValueError(f"{what} layer range {start}-{stop} must lie within 0-{num_ws}")
    return start, stop


def mix_ws(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: LayerRange) -> torch.Tensor:
    """ws_a (B, N, w_dim) with rows [start, stop) taken from ws_b (same shape)."""
    start, stop = check_range(layers, ws_a.shape[1], "mixing")
    if start == stop:
        return ws_a
    mixed = ws_a.clone()
    mixed[:, start:stop] = ws_b[:, start:stop]
    return mixed
