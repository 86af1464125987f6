"""Per-user folders: settings and recent files (config), recomputable results (cache), and where
files the user asked for go when they named no folder (outputs).

``$PANOHEAD_STUDIO_CONFIG_DIR`` / ``$PANOHEAD_STUDIO_CACHE_DIR`` / ``$PANOHEAD_STUDIO_OUTPUT_DIR``
override them (tests point them at temporary folders); otherwise the XDG base directories, under
``panohead-studio``, and ``~/panohead-studio`` for outputs. Nothing is written into the source tree
or the current folder unless the user names it.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "PANOHEAD_STUDIO_CONFIG_DIR"
CACHE_ENV = "PANOHEAD_STUDIO_CACHE_DIR"
OUTPUT_ENV = "PANOHEAD_STUDIO_OUTPUT_DIR"


def config_folder() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "panohead-studio"


def cache_folder() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "panohead-studio"


def output_root() -> Path:
    override = os.environ.get(OUTPUT_ENV)
    if override:
        return Path(override)
    return Path.home() / "panohead-studio"


def resolve_output(folder: str | os.PathLike) -> Path:
    """A folder the viewer writes into: ``~`` expanded, a relative name taken under :func:`output_root`
    (so the default "captures" never lands in whatever folder the app was started from)."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else output_root() / path
