"""The host's share of a training step: no tensor built from host data, no device sync, a bounded
number of dispatched operations (:mod:`panohead.op_count`).

On CUDA a tensor made from host data is a copy from pageable host memory, which first waits for the GPU
to finish its queue (so the host can no longer run ahead of the GPU) and is refused inside CUDA graph
capture (the viewer's and the inversion's graphs fell back to eager for this). On the CPU the same call
shows up as ``aten.lift_fresh``; ``.item()``, ``bool(tensor)`` and data-dependent shapes show as the
operations :class:`OpCount` counts as syncs. The medium preset's step is bounded by its host on an H200
(docs/performance.md), so the number of operations per step is held here too.
"""

from __future__ import annotations

import torch
from tiny_heads import write_tiny_dataset

from panohead.camera import orbit_label
from panohead.op_count import OpCount
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loop import RunSpec, Trainer
from panohead.training.loss import PanoHeadLoss, RealBatch, schedule_at
from panohead.training.options import training_preset
from tests.conftest import make_tiny_generator

# ATen operations of the tiny preset's second step (G, D, EMA; no R1): 4,591. Before session 5 it was 6,264
# with 137 syncs (Adam's per-parameter loop reading each step count back, per-call FIR filters, three-view
# indexing, EqualLinear scaling its tensors); 4,447 after that, then +144 when the tri-grid lookups became
# one grid_sample per grid (the seed browser's CPU speed-up); the bound leaves 1% for small changes.
TINY_STEP_OPS = 4_640


def test_generator_and_discriminator_passes_make_no_tensor_from_host_data():
    _, options = training_preset("tiny")
    G = make_tiny_generator().train()
    D = TriDiscriminator(options.discriminator).train()
    loss = PanoHeadLoss(G, D, options.loss)
    schedule = schedule_at(options.loss, 0)
    size, raw = G.config.image_resolution, G.config.neural_resolution
    z = torch.randn(2, G.config.z_dim)
    c = orbit_label(torch.tensor([0.3, 2.5]))
    real = RealBatch.from_dataset(torch.rand(2, 3, size, size) * 2 - 1, torch.rand(2, 1, size, size), c, schedule)
    assert raw == real.image_raw.shape[-1]
    G.requires_grad_(True)
    D.requires_grad_(True)
    with OpCount() as host:
        total = (
            loss.generator_main(z, c, schedule)[0]
            + loss.discriminator_main(real, z, c, schedule)[0]
            + loss.discriminator_reg(real, schedule)[0]
        )
        total.backward()
    assert host.syncs["tensor from host data"] == 0


def test_a_training_step_never_waits_for_the_device_and_keeps_to_its_operation_budget(tmp_path):
    config, options = training_preset("tiny", workers=0)
    data = write_tiny_dataset(tmp_path / "data", count=4)
    spec = RunSpec(data=str(data), outdir=str(tmp_path / "run"), config=config, options=options, device="cpu")
    trainer = Trainer(spec)
    batches = trainer.data_iterator()
    counts = []
    for _ in range(2):  # step 0 runs every phase (R1 included) and makes the optimisers' state
        batch = next(batches)  # the data loader's tensors come from host memory, by design
        with OpCount() as count:
            trainer.step(batch)
        counts.append(count)
    assert [c.sync_total for c in counts] == [0, 0], [c.syncs for c in counts]
    assert counts[1].total <= TINY_STEP_OPS, counts[1].summary()
