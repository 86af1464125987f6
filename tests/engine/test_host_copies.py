"""The training passes build no tensor from host data (Python lists, numbers in torch.tensor).

On CUDA each such tensor is a copy from pageable host memory, which first waits for the GPU to finish
its queue (so the host can no longer run ahead of the GPU) and is refused inside CUDA graph capture
(the viewer's and the inversion's graphs fell back to eager for this). On the CPU the same call shows
up as ``aten.lift_fresh``, which this test counts for every pass of a training step.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from panohead.camera import orbit_label
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loss import PanoHeadLoss, RealBatch, schedule_at
from panohead.training.options import training_preset
from tests.conftest import make_tiny_generator


class HostTensors(TorchDispatchMode):
    """Counts tensors made from host data (``torch.tensor``, list indices) while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.lift_fresh, torch.ops.aten.lift_fresh_copy):
            self.count += 1
        return func(*args, **(kwargs or {}))


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
    with HostTensors() as host:
        total = (
            loss.generator_main(z, c, schedule)[0]
            + loss.discriminator_main(real, z, c, schedule)[0]
            + loss.discriminator_reg(real, schedule)[0]
        )
        total.backward()
    assert host.count == 0
