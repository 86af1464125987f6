"""Compact snapshots: a training snapshot in reduced precision, split into files small enough to travel.

A lent GPU machine returns files of at most 16 MiB (64 MiB in all) and takes at most 64 MiB of working
tree, so a full snapshot (fp32 weights and Adam state, ~4x larger) cannot go back and forth between leases.
A compact snapshot keeps everything an exact resume reads, with less precision:

* ``G.``, ``G_ema.``, ``D.`` weights and buffers in float16 (a tensor that float16 cannot hold, with
  values beyond its range, stays float32); their relative rounding error is at most 2**-11;
* Adam's ``exp_avg_sq`` (and ``exp_avg`` where stored) in bfloat16, which keeps float32's exponent
  range for the tiny second moments that float16 would flush to zero; ``step`` counters unchanged;
* the same metadata as the full snapshot (configs, options, progress): the schedules (blur, pose swap,
  density noise, EMA ramp-up) are functions of the image count, and every random draw is seeded by
  (seed, step), so nothing else is needed to continue the loss curve (see ``training/loop.py``).

Loading casts everything back to float32. Files are named ``compact-NNNNNNNNN-partKofN.safetensors``
(N = images seen). Part 1, the head, holds the metadata and the names of the other parts; every part
carries the snapshot's random id, so parts of different snapshots are never mixed. Each part is
written atomically and the head last, so an interrupted write leaves no head and nothing to resume from.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import torch

from panohead.checkpoint import CheckpointError, load_tensors, save_tensors
from panohead.errors import one_line
from panohead.untrusted import parse_json

HEAD_KIND, PART_KIND = "compact-snapshot", "compact-snapshot-part"
PART_MIB = 15.0  # MiB of tensor data per part: with its header a file stays under the 16 MiB transfer limit
FP16_MAX = torch.finfo(torch.float16).max


def part_name(nimg: int, index: int, count: int) -> str:
    """File name of part ``index`` (1-based) of ``count`` of the compact snapshot after ``nimg`` images."""
    return f"compact-{nimg:09d}-part{index}of{count}.safetensors"


def reduce_precision(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as stored in a compact snapshot (see the module docstring for the rules)."""
    if not tensor.is_floating_point() or name.endswith(".step"):
        return tensor
    if name.startswith("opt_"):
        return tensor.to(torch.bfloat16)
    if tensor.numel() and tensor.abs().max() > FP16_MAX:
        return tensor
    return tensor.to(torch.float16)


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
    """Write ``tensors`` (reduced with :func:`reduce_precision`) and the snapshot ``metadata`` as parts
    into ``folder``; returns their paths, head first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reduced = {name: reduce_precision(name, tensor.detach().cpu()) for name, tensor in tensors.items()}
    groups = split(reduced, int(part_mib * 2**20))
    names = [part_name(nimg, index + 1, len(groups)) for index in range(len(groups))]
    identity = uuid.uuid4().hex
    for name, group in zip(names[1:], groups[1:], strict=True):
        save_tensors(folder / name, group, PART_KIND, {"compact_id": identity, "head": names[0]})
    save_tensors(
        folder / names[0], groups[0], HEAD_KIND, {**metadata, "compact_id": identity, "parts": json.dumps(names[1:])}
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
    part) belongs to; a missing, corrupt or foreign part is a :class:`CheckpointError` naming it."""
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
    return {name: t.float() if t.is_floating_point() else t for name, t in tensors.items()}, metadata
