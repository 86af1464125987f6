"""Training snapshots in our checkpoint format: everything an exact resume needs, in one safetensors file.

Tensors (prefixes): ``G.`` the trained generator, ``G_ema.`` its moving average (what users render
with, and what :func:`panohead.checkpoint.load_generator` reads from a snapshot), ``D.`` the
discriminator, ``opt_G.<i>.<key>`` / ``opt_D.<i>.<key>`` the Adam state of parameter ``i`` (``step``,
``exp_avg_sq`` and, unless beta1 is 0, ``exp_avg``: with beta1 = 0 Adam overwrites exp_avg with the
new gradient before using it, so it carries nothing across steps).
Metadata (JSON strings): ``config`` (generator), ``d_config``, ``train_options``, ``progress``
({nimg, step, train_seconds}) and ``data``. Snapshots converted from official pickles (``panohead
convert``) hold only ``config``, ``G``/``G_ema`` and, when it converted, ``D`` with ``d_config``: they
can be fine-tuned from but not resumed.

:func:`compact_snapshot` writes the same state in reduced precision, split into parts that fit a lent GPU
machine's file limits (:mod:`panohead.training.compact`); :func:`read_snapshot` reads either kind.

No RNG state is stored because the loop has none worth saving: every random draw of step ``s`` comes
from generators seeded by (seed, s, phase, chunk), so the progress counters fix the future exactly.
Files are written atomically: an interrupted write leaves the previous snapshot untouched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from panohead.checkpoint import (
    CheckpointError,
    build_generator,
    check_shapes,
    config_from_metadata,
    load_tensors,
    save_generator,
    save_tensors,
    training_data,
)
from panohead.config import GeneratorConfig
from panohead.errors import one_line
from panohead.generator import PanoHeadGenerator
from panohead.training.compact import HEAD_KIND, PART_KIND, PART_MIB, read_compact, write_compact
from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator
from panohead.training.options import TrainOptions
from panohead.untrusted import parse_json

SNAPSHOT_RE = re.compile(r"snapshot-(\d{9})\.safetensors")


def snapshot_name(nimg: int) -> str:
    """File name of the snapshot taken after ``nimg`` real images (sorts by training progress)."""
    return f"snapshot-{nimg:09d}.safetensors"


def latest_snapshot(folder: str | os.PathLike) -> Path | None:
    """The snapshot with the most images seen in ``folder``, or None."""
    found = sorted(p for p in Path(folder).glob("snapshot-*.safetensors") if SNAPSHOT_RE.fullmatch(p.name))
    return found[-1] if found else None


@dataclass
class TrainingProgress:
    """Where a run stands: saved in every snapshot so a resume continues the schedules and the log."""

    nimg: int = 0  # real images shown to the discriminator so far
    step: int = 0  # optimiser steps (batches) so far
    train_seconds: float = 0.0  # wall time spent training, summed over sessions


@dataclass
class SnapshotState:
    """What :func:`read_snapshot` returns: per-network state dicts plus configs and counters."""

    generator: dict[str, torch.Tensor]
    generator_ema: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor]
    optimisers: dict[str, dict]
    config: GeneratorConfig
    d_config: DiscriminatorConfig | None  # None: no discriminator in a converted official snapshot
    options: TrainOptions | None  # None: converted from an official snapshot (nothing to resume)
    progress: TrainingProgress
    training_data: str  # "synthetic", "photos" or "" (not recorded): see panohead.checkpoint.training_data


def flatten_optimiser(name: str, optimiser: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    state = optimiser.state_dict()
    beta1 = {index: group["betas"][0] for group in state["param_groups"] for index in group["params"]}
    return {
        f"{name}.{index}.{key}": value
        for index, entries in state["state"].items()
        for key, value in entries.items()
        if not (key == "exp_avg" and beta1[index] == 0)
    }


def write_snapshot(
    path: str | os.PathLike,
    G: PanoHeadGenerator,
    G_ema: PanoHeadGenerator,
    D: TriDiscriminator,
    optimisers: dict[str, torch.optim.Optimizer],
    options: TrainOptions,
    progress: TrainingProgress,
    data: str = "",
    data_kind: str = "",
) -> None:
    """``data``: the dataset's path; ``data_kind``: what its images are (:func:`panohead.data.dataset.data_kind`),
    the training record that says whether the model can represent real photos (kept by :func:`export_generator`)."""
    tensors = {}
    for prefix, module in (("G", G), ("G_ema", G_ema), ("D", D)):
        tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
    for name, optimiser in optimisers.items():
        tensors.update(flatten_optimiser(name, optimiser))
    metadata = {
        "config": G.config.to_json(),
        "d_config": D.config.to_json(),
        "train_options": options.to_json(),
        "progress": json.dumps(progress.__dict__),
        "data": data,
        "training_data": data_kind,
    }
    save_tensors(path, tensors, "snapshot", metadata)


def compact_snapshot(snapshot: str | os.PathLike, folder: str | os.PathLike, part_mib: float = PART_MIB) -> list[Path]:
    """Write the full ``snapshot`` as a compact one (:mod:`panohead.training.compact`) into ``folder``;
    returns the parts, head first."""
    tensors, metadata = load_tensors(snapshot, "snapshot")
    if "train_options" not in metadata:
        raise CheckpointError(f"{snapshot}: converted from an official snapshot, it holds no training state to compact")
    return write_compact(folder, _nimg(metadata), tensors, metadata, part_mib)


def recompact(part: str | os.PathLike, folder: str | os.PathLike, part_mib: float = PART_MIB) -> list[Path]:
    """Rewrite the compact snapshot that ``part`` belongs to (any format, e.g. format 1's float16 G and
    bfloat16 moments) in the current format into ``folder``; returns the new parts, head first."""
    tensors, metadata = read_compact(part)
    return write_compact(folder, _nimg(metadata), tensors, metadata, part_mib)


def _nimg(metadata: dict[str, str]) -> int:
    return int(parse_json(metadata.get("progress", "{}")).get("nimg", 0))


def read_snapshot(path: str | os.PathLike) -> SnapshotState:
    """A full snapshot, or a compact one given by any of its parts (weights cast back to float32)."""
    path = Path(path)
    tensors, metadata = load_tensors(path, ("snapshot", HEAD_KIND, PART_KIND))
    if metadata["kind"] != "snapshot":
        tensors, metadata = read_compact(path)
    try:
        d_config = DiscriminatorConfig.from_json(metadata["d_config"]) if "d_config" in metadata else None
        options = TrainOptions.from_json(metadata["train_options"]) if "train_options" in metadata else None
        progress = TrainingProgress(**parse_json(metadata.get("progress", "{}")))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: snapshot metadata is incomplete or invalid ({one_line(error)})") from None

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    config = config_from_metadata(path, metadata)
    networks = {"G": lambda: PanoHeadGenerator(config), "G_ema": lambda: PanoHeadGenerator(config)}
    if d_config is not None:
        networks["D"] = lambda: TriDiscriminator(d_config)
    for prefix, build in networks.items():  # a config describing more than the file holds fails here
        if part(prefix):
            check_shapes(path, build, {name: tuple(t.shape) for name, t in part(prefix).items()})
    optimisers = {name: part(name) for name in ("opt_G", "opt_D")}
    return SnapshotState(
        part("G"),
        part("G_ema"),
        part("D"),
        optimisers,
        config,
        d_config,
        options,
        progress,
        training_data(path, metadata) or "",
    )


def load_optimiser(optimiser: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    """Restore ``optimiser`` from one ``opt_*`` part of :func:`read_snapshot` (keys ``<index>.<key>``).

    The param groups (learning rates, betas) stay those of ``optimiser``, i.e. of the current options.
    """
    parameters = [p for group in optimiser.param_groups for p in group["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        index, entry = key.split(".", 1)
        state.setdefault(int(index), {})[entry] = value
    for index, entries in state.items():
        entries.setdefault("exp_avg", torch.zeros_like(parameters[index]))
    optimiser.load_state_dict({"state": state, "param_groups": optimiser.state_dict()["param_groups"]})


def export_generator(snapshot: str | os.PathLike, output: str | os.PathLike, half: bool = True) -> None:
    """Write a snapshot's G_ema as a generator checkpoint (fp16 by default), atomically."""
    state = read_snapshot(snapshot)
    G_ema = build_generator(Path(snapshot), state.config, state.generator_ema)
    save_generator(
        output,
        G_ema,
        dtype=torch.float16 if half else None,
        extra={"source": Path(snapshot).name, "nimg": str(state.progress.nimg), "training_data": state.training_data},
    )
