"""Settings remembered between runs: the :class:`AppState` as JSON in the user's config folder.

The folder is :func:`panohead.userdirs.config_folder`: ``$PANOHEAD_STUDIO_CONFIG_DIR`` when set (tests
point it at a temporary folder), else ``$XDG_CONFIG_HOME/panohead-studio`` or ``~/.config/panohead-studio``.
"""

from __future__ import annotations

from panohead import json_numbers
from panohead.atomic import write_bytes_atomic
from panohead.untrusted import parse_json, read_file_capped
from panohead.userdirs import config_folder
from viz.state import AppState

SETTINGS_NAME = "viewer.json"
SETTINGS_LIMIT = 2**20  # bytes; the settings are about 2 KB


def load_state() -> tuple[AppState, str | None]:
    """The remembered state (defaults if there is none) and a one-line warning if the file was unusable or
    some of its entries were (those keep their defaults; the rest is used)."""
    path = config_folder() / SETTINGS_NAME
    if not path.is_file():
        return AppState(), None
    try:
        values = parse_json(read_file_capped(path, SETTINGS_LIMIT), finite=False)  # checked field by field
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return AppState(), f"{path}: ignored unreadable settings ({error})"
    problems: list[str] = []
    state = AppState.from_dict(values, problems)
    if not problems:
        return state, None
    listed = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return state, f"{path}: ignored {len(problems)} setting{'s' * (len(problems) > 1)} ({listed}); the others were used"


def save_state(state: AppState) -> None:
    """Write the state atomically (a crash mid-write keeps the previous settings)."""
    folder = config_folder()
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / SETTINGS_NAME, json_numbers.dumps(state.to_dict(), indent=1, sort_keys=True).encode())
