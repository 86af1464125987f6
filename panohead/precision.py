"""The one precision policy: which float32 work may round, named once and applied in a scope.

    precision = Precision.parse("tf32+fp16")
    with precision.scope(device):            # TF32 flags set, fp16 autocast on; both restored on exit
        image = G.superres(raw, features, ws)
    with precision.float32.scope(device):    # the same TF32 choice, no autocast (rays, decoder, compositing)
        out = G.render(...)

Two independent knobs, one name: ``tf32`` lets CUDA matmuls and convolutions use TF32 tensor cores
(everything stays float32 in memory); ``half`` ('bf16' or 'fp16') runs the networks inside the scope
under autocast. Names are 'fp32', 'tf32', 'bf16', 'fp16', and 'tf32+bf16' / 'tf32+fp16' for both.
A scope sets the TF32 flags only on CUDA (a CPU has no TF32) and always restores them, so no thread
leaves a global flag behind for another; CUDA graphs bake the flags in at capture, so a graph
captured inside a scope keeps that scope's precision.

Where each is used (measurements in docs/performance.md and docs/inversion.md):
rendering offers :data:`RENDERING` (TF32 moved the bundled model's images by up to 0.15, fp16
super-resolution alone by 2e-3); optimisation (the inversion) offers :data:`OPTIMISATION` (bf16 was
slower than TF32 for the paper model and diverged on small ones); training runs 'tf32+bf16' and the
encoder's training 'tf32'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch

PrecisionName = Literal["fp32", "tf32", "bf16", "fp16", "tf32+bf16", "tf32+fp16"]
RenderingPrecision = Literal["fp32", "tf32", "fp16"]  # what the viewer offers
OptimisationPrecision = Literal["fp32", "tf32"]  # what the inversion offers
Half = Literal["bf16", "fp16"]  # autocast dtypes
NAMES: tuple[PrecisionName, ...] = get_args(PrecisionName)
RENDERING: tuple[RenderingPrecision, ...] = get_args(RenderingPrecision)
OPTIMISATION: tuple[OptimisationPrecision, ...] = get_args(OptimisationPrecision)
_DTYPES: dict[Half, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """``half``: None (float32) or the autocast dtype name 'bf16' / 'fp16'; ``tf32``: TF32 tensor cores."""

    half: Half | None = None
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.half is not None and self.half not in _DTYPES:
            raise ValueError(f"half precision {self.half!r} is not one of {', '.join(_DTYPES)}")

    @classmethod
    def parse(cls, name: str | Precision, allowed: Sequence[str] = NAMES) -> Precision:
        """The precision ``name`` means ('tf32+fp16', ...); a name outside ``allowed`` is refused by name."""
        if isinstance(name, Precision):
            name = name.name
        if name not in allowed:
            raise ValueError(f"precision {name!r} is not one of {', '.join(allowed)}")
        parts = name.split("+")
        half = "bf16" if "bf16" in parts else "fp16" if "fp16" in parts else None
        return cls(half, "tf32" in parts)

    @property
    def name(self) -> PrecisionName:
        if self.half is None:
            return "tf32" if self.tf32 else "fp32"
        if self.tf32:
            return "tf32+bf16" if self.half == "bf16" else "tf32+fp16"
        return self.half

    def __str__(self) -> str:
        return self.name

    def rendering_on(self, device: torch.device | str) -> Precision:
        """What a render at this precision runs as on ``device``: itself on CUDA, float32 on a CPU (which
        has no TF32 and runs fp16 autocast about ten times slower than float32)."""
        return self if torch.device(device).type == "cuda" else FP32

    @property
    def float32(self) -> Precision:
        """This precision for the work that always stays float32: the same TF32 choice, no autocast."""
        return Precision(tf32=self.tf32)

    def autocast(self, device: torch.device | str, cache_enabled: bool = True) -> torch.autocast:
        """Autocast to ``half`` on ``device``; for float32, autocast off (also inside an outer autocast).
        ``cache_enabled=False`` makes the same context usable inside CUDA graph capture (no weight-cast
        cache outliving the capture)."""
        device_type = torch.device(device).type
        if self.half is None:
            return torch.autocast(device_type, enabled=False)
        return torch.autocast(device_type, dtype=_DTYPES[self.half], cache_enabled=cache_enabled)

    @contextlib.contextmanager
    def scope(self, device: torch.device | str, cache_enabled: bool = True) -> Iterator[None]:
        """TF32 flags as chosen (CUDA only) and :meth:`autocast` while inside; the flags restored after."""
        cuda = torch.device(device).type == "cuda"
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.tf32
        try:
            with self.autocast(device, cache_enabled):
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


FP32 = Precision()
TF32 = Precision(tf32=True)
