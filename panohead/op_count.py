"""What a piece of work costs the host: the ATen operations it dispatches and the device syncs among them.

On a GPU every dispatched operation costs the host several microseconds (Python, the dispatcher,
autograd's bookkeeping, the kernel launch), whether the kernel behind it is large or tiny, so a
training step of many small kernels is bounded by its host, not its GPU (docs/performance.md). A
*sync* is an operation after which the host waits for the GPU's whole queue, so it can no longer run
ahead and the two stop overlapping:

* ``_local_scalar_dense``: ``.item()``, ``bool(t)``, ``int(t)``, ``float(t)`` of a tensor, an
  ``if t:`` or a Python loop bound read from a tensor;
* ``nonzero``, ``masked_select``, ``unique``...: operations whose output size depends on the data
  (also boolean-mask indexing, which calls ``nonzero``);
* ``lift_fresh``: a tensor made from host data (``torch.tensor([...])``, indexing with a Python
  list), which reaches the GPU as a copy from pageable memory and is refused in CUDA graph capture;
* a copy from a device to the CPU (``.cpu()``, ``.tolist()``, ``.numpy()`` of a GPU tensor; on a CPU
  tensor these dispatch nothing, so only a run on the GPU shows them).

:class:`OpCount` counts all of these on any device, the CPU included, so a CPU test can hold a
training step to its bounds and ``bench/bench_train.py`` can print them beside its rates.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
SYNC_OPS = {
    aten._local_scalar_dense: "scalar read",
    aten.nonzero: "data-dependent shape",
    aten.masked_select: "data-dependent shape",
    aten._unique2: "data-dependent shape",
    aten.unique_dim: "data-dependent shape",
    aten.unique_consecutive: "data-dependent shape",
    aten.lift_fresh: "tensor from host data",
    aten.lift_fresh_copy: "tensor from host data",
}
COPIES = {aten._to_copy, aten.copy_}


class OpCount(TorchDispatchMode):
    """Counts the ATen operations dispatched while active (in this thread, autograd's backward included).

    ``ops``: count per operation name; ``views``: those that only make a view (no kernel on any
    device); ``syncs``: count per kind of device sync (see the module docstring).
    """

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        self.syncs: Counter[str] = Counter()
        self.views = 0

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @property
    def sync_total(self) -> int:
        return sum(self.syncs.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        self.ops[packet.__name__] += 1
        if func.is_view:
            self.views += 1
        if packet in SYNC_OPS:
            self.syncs[SYNC_OPS[packet]] += 1
        out = func(*args, **kwargs)
        if packet in COPIES and _device_to_host(args, out):
            self.syncs["copy to host"] += 1
        return out

    def summary(self, steps: int = 1) -> str:
        """One line: operations, views and syncs per step (of ``steps`` counted), the syncs by kind."""
        kinds = ", ".join(f"{kind} {count / steps:g}" for kind, count in sorted(self.syncs.items()))
        return (
            f"{self.total / steps:.0f} ATen ops per step ({self.views / steps:.0f} of them views), "
            f"{self.sync_total / steps:g} device syncs per step" + (f" ({kinds})" if kinds else "")
        )


def _device_to_host(args: tuple, out: object) -> bool:
    """Whether a copy moved data from a non-CPU device to the CPU."""
    tensors = [arg for arg in args[:2] if isinstance(arg, torch.Tensor)]  # _to_copy(self), copy_(self, src)
    source = tensors[-1] if tensors else None
    return (
        source is not None
        and isinstance(out, torch.Tensor)
        and source.device.type not in ("cpu", "meta")
        and out.device.type == "cpu"
    )
