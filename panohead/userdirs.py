"""Per-user folders: settings and recent files (config), recomputable results (cache).

``$PANOHEAD_STUDIO_CONFIG_DIR`` / ``$PANOHEAD_STUDIO_CACHE_DIR`` override them (tests point them at
temporary folders); otherwise the XDG base directories, under ``panohead-studio``.
"""
from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "PANOHEAD_STUDIO_CONFIG_DIR"
CACHE_ENV = "PANOHEAD_STUDIO_CACHE_DIR"


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
