"""Helpers of the training tests: a tiny synthetic head dataset and the 2-process gradient worker."""

from __future__ import annotations

from pathlib import Path

import torch

from panohead.data.synth import SynthSettings, write_synthetic_dataset


def write_tiny_dataset(folder: Path, count: int = 8, resolution: int = 32) -> Path:
    """``count`` synthetic 360-degree heads (``panohead dataset synth``) at ``resolution``; returns the image folder."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return write_synthetic_dataset(
        Path(folder) / "heads",
        count,
        seed=0,
        settings=SynthSettings(resolution=resolution),
        device="cpu",
        batch_size=count,
    )


def distributed_gradients(rank: int, world: int, port: int, data: str, outdir: str, result: str) -> None:
    """Worker of the 2-process test: join a gloo group, accumulate G and D gradients of step 0, save rank 0's."""
    import os

    from panohead.training.loop import RunSpec, Trainer, start_process
    from panohead.training.options import training_preset

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    process = start_process("cpu")
    config, options = training_preset("tiny")
    trainer = Trainer(RunSpec(data=data, outdir=outdir, config=config, options=options, device="cpu"), process)
    torch.save(step_gradients(trainer), result) if rank == 0 else step_gradients(trainer)
    # Both ranks done before either tears gloo down: a peer that left first made the other's gloo thread
    # abort ("terminate called without an active exception", SIGABRT) about once in a few CI runs.
    torch.distributed.barrier()
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
