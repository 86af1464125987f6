"""Compact snapshots: a training snapshot in reduced precision, split into files small enough to travel.

A lent GPU machine returns files of at most 16 MiB (64 MiB in all) and takes at most 64 MiB of working
tree, so a full snapshot (fp32 weights and Adam state, ~4x larger) cannot go back and forth between leases.
A compact snapshot keeps everything an exact resume reads, with less precision (format 2, the
metadata's ``compact_format``; the medium run's 76 MB full snapshot becomes 27.7 MB):

* ``G_ema.`` and ``D.`` weights and buffers in float16 (a tensor that float16 cannot hold, with values
  beyond its range, stays float32); their relative rounding error is at most 2**-11;
* ``G.``, the trained generator, as its difference from the stored ``G_ema`` in 8-bit linear block
  codes (``G.<name>@int8`` and ``G.<name>@scale``; :mod:`panohead.training.blockquant`): G_ema is G's
  moving average, so the difference is small and its error, at most 1/254 of each block's largest
  difference, is smaller than float16's rounding of G itself (1.1e-4 against ~5e-4 mean absolute error
  on the medium run). A tensor equal to G_ema's keeps only its (zero) scales;
* Adam's ``exp_avg_sq`` in 8-bit log block codes (``@log8``, ``@low``, ``@step``): relative error of
  sqrt(v), the quantity each step divides by, 0.3% mean and 2.1% at most on the medium run;
  ``exp_avg`` (stored only when beta1 > 0, e.g. by the encoder's runs) in bfloat16: each entry is divided
  by its own sqrt(v), so block codes would lose the small entries; ``step`` counters unchanged;
* the same metadata as the full snapshot (configs, options, progress): the schedules (blur, pose swap,
  density noise, EMA ramp-up) are functions of the image count, and every random draw is seeded by
  (seed, step), so nothing else is needed to continue the loss curve (see ``training/loop.py``).

Format 1 (no ``compact_format``; the lead's parts of leases 1-3) stored G in float16 and the moments in
bfloat16; it still loads, and ``panohead train recompact`` rewrites it as format 2. Loading casts
everything back to float32. Files are named ``compact-NNNNNNNNN-partKofN.safetensors`` (N = images seen).
Part 1, the head, holds the metadata and the names of the other parts; every part carries the
snapshot's random id, so parts of different snapshots are never mixed. Each part is written atomically
and the head last, so an interrupted write leaves no head and nothing to resume from.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import torch

from panohead.checkpoint import CheckpointError, load_tensors, save_tensors
from panohead.errors import one_line
from panohead.training.blockquant import BLOCK, decode_linear8, decode_log8, encode_linear8, encode_log8
from panohead.untrusted import parse_json

HEAD_KIND, PART_KIND = "compact-snapshot", "compact-snapshot-part"
PART_MIB = 15.0  # MiB of tensor data per part: with its header a file stays under the 16 MiB transfer limit
FP16_MAX = torch.finfo(torch.float16).max
FORMAT = "2"
DELTA_OF = ("G.", "G_ema.")  # tensors under the first prefix are stored as differences from the second's
# Metadata that describes the files rather than the snapshot: written anew with every compact snapshot.
FILE_METADATA = {"format", "version", "kind", "sha256", "compact_id", "parts", "head", "compact_format"}


def part_name(nimg: int, index: int, count: int) -> str:
    """File name of part ``index`` (1-based) of ``count`` of the compact snapshot after ``nimg`` images."""
    return f"compact-{nimg:09d}-part{index}of{count}.safetensors"


def _weights(tensor: torch.Tensor) -> torch.Tensor:
    """A float tensor of weights as stored: float16, or float32 where float16 cannot hold its values."""
    if tensor.numel() and tensor.abs().max() > FP16_MAX:
        return tensor.float()
    return tensor.to(torch.float16)


def encode_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a snapshot as a compact snapshot (format 2) stores them (see the module docstring)."""
    stored: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu()
        reference = tensors.get(DELTA_OF[1] + name.removeprefix(DELTA_OF[0])) if name.startswith(DELTA_OF[0]) else None
        if not tensor.is_floating_point() or name.endswith(".step"):
            stored[name] = tensor
        elif name.startswith("opt_") and name.endswith(".exp_avg_sq"):
            codes, low, step = encode_log8(tensor)
            stored.update({f"{name}@log8": codes, f"{name}@low": low, f"{name}@step": step})
        elif name.startswith("opt_"):  # exp_avg: Adam divides each entry by its own sqrt(v), so it needs
            stored[name] = tensor.to(torch.bfloat16)  # every entry's relative precision, not a block's
        elif reference is not None and reference.shape == tensor.shape and reference.is_floating_point():
            codes, scales = encode_linear8(tensor.float() - _weights(reference.detach().cpu()).float())
            stored[f"{name}@scale"] = scales
            if scales.any():
                stored[f"{name}@int8"] = codes
        else:
            stored[name] = _weights(tensor)
    return stored


def decode_state(path: Path, stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 tensors that :func:`encode_state` stored; ``path`` names the snapshot in errors."""
    tensors = {name: t.float() if t.is_floating_point() else t for name, t in stored.items() if "@" not in name}
    for key in sorted(k for k in stored if k.endswith(("@scale", "@log8"))):
        name, code = key.rsplit("@", 1)
        try:
            if code == "log8":
                tensors[name] = decode_log8(*_pieces(stored, name, {"log8": torch.uint8, "low": None, "step": None}))
                continue
            reference = (
                tensors.get(DELTA_OF[1] + name.removeprefix(DELTA_OF[0])) if name.startswith(DELTA_OF[0]) else None
            )
            if f"{name}@int8" not in stored and reference is not None:
                _check_blocks(stored[key], reference.numel())
                tensors[name] = reference.clone()
                continue
            values = decode_linear8(*_pieces(stored, name, {"int8": torch.int8, "scale": None}))
            if reference is not None:
                if reference.shape != values.shape:
                    raise ValueError(f"its shape {tuple(values.shape)} is not {tuple(reference.shape)}")
                values = values + reference
            tensors[name] = values
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"{path}: compact snapshot tensor {name} cannot be decoded ({one_line(error)})"
            ) from None
    return tensors


def _pieces(stored: dict[str, torch.Tensor], name: str, kinds: dict[str, torch.dtype | None]) -> list[torch.Tensor]:
    """The coded pieces of ``name`` in ``kinds``' order: codes of the given dtype, then per-block numbers."""
    pieces = [stored[f"{name}@{kind}"] for kind in kinds]
    codes, *numbers = pieces
    if codes.dtype != kinds[next(iter(kinds))]:
        raise ValueError(f"codes of dtype {codes.dtype}")
    for per_block in numbers:
        _check_blocks(per_block, codes.numel())
    return pieces


def _check_blocks(per_block: torch.Tensor, numel: int) -> None:
    if not per_block.is_floating_point() or per_block.shape != (-(-numel // BLOCK),):
        raise ValueError(f"{tuple(per_block.shape)} {per_block.dtype} block numbers for {numel} values")


def split(tensors: dict[str, torch.Tensor], part_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Tensors in name order, cut into consecutive groups of at most ``part_bytes`` bytes each."""
    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > part_bytes:
            raise ValueError(
                f"tensor {name} ({nbytes / 2**20:.1f} MiB) is larger than a part "
                f"({part_bytes / 2**20:.1f} MiB); choose a larger part size"
            )
        if size + nbytes > part_bytes and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][name] = tensor
        size += nbytes
    return parts


def write_compact(
    folder: str | os.PathLike,
    nimg: int,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    part_mib: float = PART_MIB,
) -> list[Path]:
    """Write ``tensors`` (coded with :func:`encode_state`) and the snapshot ``metadata`` (less what
    describes another file, :data:`FILE_METADATA`) as parts into ``folder``; returns their paths, head first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {k: v for k, v in metadata.items() if k not in FILE_METADATA}
    groups = split(encode_state(tensors), int(part_mib * 2**20))
    names = [part_name(nimg, index + 1, len(groups)) for index in range(len(groups))]
    identity = uuid.uuid4().hex
    for name, group in zip(names[1:], groups[1:], strict=True):
        save_tensors(folder / name, group, PART_KIND, {"compact_id": identity, "head": names[0]})
    save_tensors(
        folder / names[0],
        groups[0],
        HEAD_KIND,
        {**metadata, "compact_id": identity, "parts": json.dumps(names[1:]), "compact_format": FORMAT},
    )
    return [folder / name for name in names]


def _file_name(path: Path, name: object) -> str:
    """A part's file name from a header: a plain name in the same folder, nothing else."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise CheckpointError(f"{path}: names another part as {str(name)[:60]!r}, not a file name in its folder")
    return name


def read_compact(
    path: str | os.PathLike, kinds: tuple[str, ...] = (HEAD_KIND, PART_KIND)
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (float32 again) and the head's metadata of the compact snapshot that ``path`` (any
    part, format 1 or 2) belongs to; a missing, corrupt or foreign part is a :class:`CheckpointError` naming it."""
    path = Path(path)
    tensors, metadata = load_tensors(path, kinds)
    if metadata["kind"] == PART_KIND:
        head = path.parent / _file_name(path, metadata.get("head"))
        if not head.is_file():
            raise CheckpointError(
                f"{head}: part 1 of the compact snapshot that {path.name} belongs to is missing; "
                "copy every part into the same folder"
            )
        return read_compact(head, (HEAD_KIND,))  # a head, never another part: parts cannot chain or loop
    try:
        others = [_file_name(path, name) for name in parse_json(metadata["parts"])]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: compact snapshot head without a valid list of parts ({one_line(error)})"
        ) from None
    count = len(others) + 1
    for index, name in enumerate(others, start=2):
        part = path.parent / name
        if not part.is_file():
            raise CheckpointError(
                f"{part}: part {index} of {count} of the compact snapshot {path.name} is missing; "
                "copy every part into the same folder"
            )
        part_tensors, part_metadata = load_tensors(part, PART_KIND)
        if part_metadata.get("compact_id") != metadata.get("compact_id"):
            raise CheckpointError(
                f"{part}: belongs to another compact snapshot than {path.name} (written by another "
                "run or session); copy the parts of one snapshot together"
            )
        tensors.update(part_tensors)
    version = metadata.get("compact_format", "1")
    if version == "1":
        return {name: t.float() if t.is_floating_point() else t for name, t in tensors.items()}, metadata
    if version != FORMAT:
        raise CheckpointError(
            f"{path}: compact snapshot format {version[:20]!r} is newer than this version reads ({FORMAT}); "
            "update PanoHead Studio"
        )
    return decode_state(path, tensors), metadata
