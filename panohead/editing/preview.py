"""Preview strips: what a direction does to the current head, seen from the front and from behind.

A strip is a grid of small renders, one row per yaw and one column per amount along the direction,
so the app can show each slider's effect on the whole 360-degree head before the user drags it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from panohead.editing.directions import Direction
from panohead.editing.state import EditState, compose
from panohead.generator import PanoHeadGenerator
from panohead.images import image_grid, to_uint8

AMOUNTS = (-2.0, 0.0, 2.0)
YAWS = (0.0, 180.0)


@torch.no_grad()
def direction_strip(
    generator: PanoHeadGenerator,
    state: EditState,
    direction: Direction,
    amounts: tuple[float, ...] = AMOUNTS,
    yaws: tuple[float, ...] = YAWS,
    superresolve: bool = False,
    neural_resolution: int | None = None,
) -> np.ndarray:
    """(len(yaws) * S, len(amounts) * S, 3) uint8: ``state`` with ``direction`` set to each amount.

    Renders the neural image (S = ``neural_resolution``, default the model's) unless ``superresolve``;
    the camera keeps the state's pitch, radius, field of view and pivot.
    """
    heads = []
    for amount in amounts:
        ws, background_ws = compose(generator, state.with_direction(direction, amount))
        background = None if background_ws is None else generator.synthesize_background(background_ws)
        heads.append((ws, generator.synthesize_planes(ws), background))
    tiles = []
    for yaw in yaws:
        camera = dataclasses.replace(state.camera, yaw=yaw).label(generator)
        for ws, planes, background in heads:
            out = generator.render(
                planes,
                ws,
                camera,
                background=background,
                superresolve=superresolve,
                neural_resolution=neural_resolution,
            )
            tiles.append(to_uint8((out["image"] if superresolve else out["image_raw"])[0]))
    return image_grid(tiles, columns=len(amounts))
