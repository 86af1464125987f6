"""Two gloo processes on the CPU compute the same gradients as one process for the same global batch."""

from __future__ import annotations

import torch
import torch.multiprocessing
from tiny_heads import distributed_gradients, step_gradients, write_tiny_dataset

from panohead.training.loop import RunSpec, Trainer, free_port
from panohead.training.options import training_preset


def test_two_processes_match_one_process_gradients_for_the_same_global_batch(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    result = tmp_path / "rank0.pt"
    torch.multiprocessing.spawn(
        distributed_gradients, nprocs=2, join=True, args=(2, free_port(), str(data), str(tmp_path / "two"), str(result))
    )
    two = torch.load(result)

    config, options = training_preset("tiny", batch_gpu=2)  # one process, two chunks of 2 = global batch 4
    one = step_gradients(
        Trainer(RunSpec(data=str(data), outdir=str(tmp_path / "one"), config=config, options=options, device="cpu"))
    )
    assert set(one) == set(two) == {"G_main", "D_main"}
    for phase in one:
        assert len(one[phase]) == len(two[phase]) > 10
        for single, pair in zip(one[phase], two[phase], strict=True):
            torch.testing.assert_close(pair, single, rtol=1e-5, atol=1e-7)
        assert any(g.abs().max() > 0 for g in one[phase])
