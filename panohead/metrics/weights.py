"""Where pretrained feature-extractor weights come from: a file the user names, or the standard cache.

We never download. When a file is missing the error says exactly which file is needed and where to
put it; callers skip the metrics that need it and still run the weight-free ones.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from panohead.errors import UserError, one_line


class MissingWeightsError(UserError, FileNotFoundError):
    """A metric needs a pretrained file that is not on this machine (the message says which and where)."""


def cache_folder() -> Path:
    """The standard PyTorch checkpoint cache: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(given: str | None, file_name: str | None, what: str, option: str) -> Path:
    """The user's file if given (it must exist), else ``file_name`` in the cache; MissingWeightsError otherwise.

    ``what`` names the model and the metrics that need it; ``option`` the command-line option that
    names the file, both for the message. ``file_name`` None: the file has no standard name, so only
    ``option`` can provide it.
    """
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"{path}: {what} weights file not found (given with {option})")
        return path
    if file_name is None:
        raise MissingWeightsError(f"{what} needs a model file: pass {option} FILE (nothing is downloaded)")
    cached = cache_folder() / file_name
    if cached.is_file():
        return cached
    raise MissingWeightsError(
        f"{what} needs the weights file {file_name}: put it at {cached} or pass {option} FILE (nothing is downloaded)"
    )


def program_format(path: Path) -> str | None:
    """'export' for a torch.export archive (.pt2), 'torchscript' for torch.jit.save, None for anything else.

    Both are zip files; an export archive has an ``archive_format`` entry, TorchScript a ``code/`` folder.
    """
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(name.endswith("archive_format") for name in names):
        return "export"
    if any(name.startswith("code/") or "/code/" in name for name in names):
        return "torchscript"
    return None


def load_program(path: str | Path, device: torch.device | str, what: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A saved model program (torch.export .pt2 or TorchScript) ready to call on ``device``.

    These carry their own architecture, so any model the user can export works; ``what`` names the
    role for the error message.
    """
    path = Path(path)
    kind = program_format(path)
    try:
        if kind == "export":
            return torch.export.load(str(path)).module().to(device)
        if kind == "torchscript":
            return torch.jit.load(str(path), map_location=device).eval()
    except Exception as error:  # a damaged archive: one clear line naming it
        raise ValueError(f"{path}: cannot load the {what} ({type(error).__name__}: {one_line(error)[:120]})") from None
    raise ValueError(
        f"{path}: the {what} must be a torch.export archive (torch.export.save) or TorchScript (torch.jit.save)"
    )
