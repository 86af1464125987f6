"""A tiny on-disk head dataset (images, masks, dataset.json) for training tests: a disc on a gradient."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from panohead.camera import orbit_label


def write_tiny_dataset(folder: Path, count: int = 8, resolution: int = 32) -> Path:
    """``count`` images of a bright disc whose position follows the camera yaw, with exact masks."""
    images, masks = folder / "heads", folder / "heads_masks"
    images.mkdir(parents=True)
    masks.mkdir()
    labels = []
    grid = np.stack(np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="xy"), -1) + 0.5
    for index in range(count):
        yaw = -math.pi + 2 * math.pi * index / count
        centre = resolution * np.array([0.5 + 0.15 * math.sin(yaw), 0.5])
        mask = (np.linalg.norm(grid - centre, axis=-1) < resolution * 0.3).astype(np.float32)
        background = np.linspace(0, 1, resolution)[None, :, None] * np.array([0.2, 0.4, 0.8])
        colour = np.array([0.9, 0.6 + 0.3 * math.cos(yaw), 0.4])
        image = mask[..., None] * colour + (1 - mask[..., None]) * background
        name = f"img{index:03d}.png"
        Image.fromarray((image * 255).round().astype(np.uint8)).save(images / name)
        Image.fromarray((mask * 255).astype(np.uint8)).save(masks / name)
        labels.append([name, orbit_label(torch.tensor([yaw]))[0].tolist()])
    (images / "dataset.json").write_text(json.dumps({"labels": labels}))
    return images


def distributed_gradients(rank: int, world: int, port: int, data: str, outdir: str, result: str) -> None:
    """Worker of the 2-process test: join a gloo group, accumulate G and D gradients of step 0, save rank 0's."""
    import os

    from panohead.training.loop import RunSpec, Trainer, start_process
    from panohead.training.options import training_preset

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    process = start_process("cpu")
    config, options = training_preset("tiny")
    trainer = Trainer(RunSpec(data=data, outdir=outdir, config=config, options=options, device="cpu"), process)
    torch.save(step_gradients(trainer), result) if rank == 0 else step_gradients(trainer)
    torch.distributed.destroy_process_group()


def step_gradients(trainer) -> dict[str, list[torch.Tensor]]:
    """Gradients of the generator and discriminator main phases of step 0 (no optimiser step)."""
    batch = next(trainer.data_iterator(workers=0))
    gradients = {}
    for index, phase in enumerate(trainer.phases):
        if phase.name in ("G_main", "D_main"):
            trainer.accumulate(index, batch)
            module = trainer.G if phase.network == "G" else trainer.D
            gradients[phase.name] = [p.grad.clone() for p in module.parameters() if p.grad is not None]
    return gradients
