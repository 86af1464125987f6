"""Open official snapshot pickles as our networks, and convert them to our safetensors format."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from panohead.checkpoint import CheckpointError, save_generator, save_tensors, skeleton
from panohead.config import GeneratorConfig
from panohead.errors import one_line
from panohead.generator import PanoHeadGenerator, parameter_count
from panohead.official.architecture import UnsupportedCheckpoint, generator_config
from panohead.official.discriminator import build_discriminator
from panohead.official.names import check_layers, map_state
from panohead.official.unpickler import Record, RefusedGlobal, plain, restricted_load
from panohead.training.discriminator import TriDiscriminator

# progress(bytes_read, total_bytes) while the pickle is read.
BytesReport = Callable[[int, int], None]


class OfficialCheckpointError(CheckpointError):
    """An official pickle cannot be opened; the message is one line naming the file."""


@dataclass
class OfficialSnapshot:
    """The networks of an official snapshot, rebuilt as ours.

    ``G`` is None for files that hold only ``G_ema``; ``D`` is None when the file holds no
    discriminator or one we cannot reproduce (``discriminator_issue`` then says why).
    """

    G_ema: PanoHeadGenerator
    G: PanoHeadGenerator | None = None
    D: TriDiscriminator | None = None
    training_set_kwargs: dict[str, Any] = field(default_factory=dict)
    discriminator_issue: str | None = None


def read_official_pickle(path: str | os.PathLike, progress: BytesReport | None = None) -> dict[str, Any]:
    """The top-level dict of an official pickle, networks as inert :class:`Record` objects.

    A file holding a bare generator (not a snapshot dict) is returned as ``{"G_ema": record}``.
    """
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: checkpoint file not found")
    total = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            data = restricted_load(handle, total, progress)
    except RefusedGlobal as refused:
        raise OfficialCheckpointError(
            f"{path}: refused to load: the pickle calls {refused.name}, which no official snapshot needs "
            f"(nothing was executed)"
        ) from None
    except (
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        RuntimeError,
        MemoryError,
        OverflowError,
        UnicodeDecodeError,
        OSError,
    ) as error:
        detail = one_line(error)
        if isinstance(error, EOFError) or "truncated" in detail:
            detail = "the file is truncated"
        raise OfficialCheckpointError(f"{path}: not a readable official snapshot pickle ({detail})") from None
    if isinstance(data, Record):
        data = {"G_ema": data}
    if not isinstance(data, dict):
        raise OfficialCheckpointError(f"{path}: holds a {type(data).__name__}, not an official snapshot dict")
    return data


def _generator_record(path: Path, data: dict[str, Any], key: str) -> Record:
    record = data.get(key)
    if not isinstance(record, Record):
        present = ", ".join(sorted(k for k, v in data.items() if isinstance(v, Record))) or "no networks"
        raise OfficialCheckpointError(f"{path}: has no '{key}' network (found: {present})")
    return record


@contextlib.contextmanager
def _reading(source: str | os.PathLike) -> Iterator[None]:
    """Errors from records that lack the structure official code writes (a missing attribute, a list
    where a dict belongs) become one line naming the file, like every other refusal."""
    try:
        yield
    except OfficialCheckpointError:
        raise
    except UnsupportedCheckpoint as error:
        raise OfficialCheckpointError(f"{source}: {error}") from None
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, RuntimeError) as error:
        raise OfficialCheckpointError(
            f"{source}: malformed official snapshot ({type(error).__name__}: {one_line(error)})"
        ) from None


def build_generator(record: Record, source: str | os.PathLike = "<official>") -> PanoHeadGenerator:
    """Our generator with the architecture and weights of an official TriPlaneGenerator record.

    The architecture is checked against the tensors the file holds on a memory-less skeleton first,
    so a record announcing a huge network fails before that network is allocated.
    """
    with _reading(source):
        config = generator_config(record)
        shape = skeleton(lambda: PanoHeadGenerator(config))
        state = map_state(record.tensors(), shape.state_dict())
        check_layers(record, shape)
        generator = PanoHeadGenerator(config)
        own = generator.state_dict()
        generator.load_state_dict({name: tensor.to(own[name].dtype) for name, tensor in state.items()})
    return generator.eval().requires_grad_(False)


def load_official_generator(
    path: str | os.PathLike, key: str = "G_ema", progress: BytesReport | None = None
) -> PanoHeadGenerator:
    """Our generator from an official PanoHead/EG3D snapshot (``G_ema`` unless ``key`` says otherwise)."""
    path = Path(path)
    data = read_official_pickle(path, progress)
    return build_generator(_generator_record(path, data, key), path)


def load_official_snapshot(path: str | os.PathLike, progress: BytesReport | None = None) -> OfficialSnapshot:
    """``G_ema``, ``G`` and ``D`` (when present and reproducible) and ``training_set_kwargs``.

    An unsupported discriminator does not stop the generators from loading: it is reported in
    ``discriminator_issue`` (the summary line says it was not converted, and why).
    """
    path = Path(path)
    data = read_official_pickle(path, progress)
    g_ema = build_generator(_generator_record(path, data, "G_ema"), path)
    g = build_generator(data["G"], path) if isinstance(data.get("G"), Record) else None
    if g is not None and g.config != g_ema.config:
        raise OfficialCheckpointError(f"{path}: G and G_ema have different architectures")
    kwargs = plain(data.get("training_set_kwargs") or {})
    if not isinstance(kwargs, dict):
        raise OfficialCheckpointError(f"{path}: training_set_kwargs is a {type(kwargs).__name__}, not a dict")
    snapshot = OfficialSnapshot(G_ema=g_ema, G=g, training_set_kwargs=kwargs)
    if isinstance(data.get("D"), Record):
        with _reading(path):
            try:
                snapshot.D = build_discriminator(data["D"])
            except UnsupportedCheckpoint as error:
                snapshot.discriminator_issue = str(error)
    return snapshot


def describe(config: GeneratorConfig) -> str:
    """Short architecture name: 'PanoHead tri-grid (D=3)' or 'EG3D tri-plane'."""
    if config.plane_layout == "eg3d":
        return "EG3D tri-plane"
    return f"PanoHead tri-grid (D={config.grid_depth})"


def summary(snapshot: OfficialSnapshot) -> str:
    """One line: architecture, resolutions, background, parameter count and what became of D."""
    cfg = snapshot.G_ema.config
    if snapshot.D is not None:
        discriminator = f"D {parameter_count(snapshot.D) / 1e6:.1f} M parameters"
    elif snapshot.discriminator_issue:
        discriminator = f"D not converted: {snapshot.discriminator_issue}"
    else:
        discriminator = "no D"
    return (
        f"{describe(cfg)}, {cfg.image_resolution}x{cfg.image_resolution} image "
        f"(neural {cfg.neural_resolution}, planes {cfg.plane_resolution}), "
        f"{'with' if cfg.background else 'no'} background, "
        f"{parameter_count(snapshot.G_ema) / 1e6:.1f} M generator parameters, {discriminator}"
    )


def convert_official(
    source: str | os.PathLike, target: str | os.PathLike, progress: BytesReport | None = None
) -> OfficialSnapshot:
    """Write an official snapshot in our format: a generator file, or a training snapshot when the
    pickle also holds ``G`` (prefixes ``G_ema.``, ``G.`` and, when it converts, ``D.`` with its
    ``d_config``), which ``panohead train --finetune`` starts from."""
    snapshot = load_official_snapshot(source, progress)
    provenance = {
        "converted_from": Path(source).name,
        "training_set_kwargs": json.dumps(snapshot.training_set_kwargs, sort_keys=True, default=str),
    }
    if snapshot.G is None:
        save_generator(target, snapshot.G_ema, extra=provenance)
        return snapshot
    tensors: dict[str, torch.Tensor] = {}
    for prefix, network in (("G_ema.", snapshot.G_ema), ("G.", snapshot.G), ("D.", snapshot.D)):
        if network is not None:
            tensors.update({prefix + name: tensor for name, tensor in network.state_dict().items()})
    metadata = {"config": snapshot.G_ema.config.to_json(), **provenance}
    if snapshot.D is not None:
        metadata["d_config"] = snapshot.D.config.to_json()
    save_tensors(target, tensors, "snapshot", metadata)
    return snapshot
