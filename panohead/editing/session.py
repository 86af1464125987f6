"""Sessions: the whole editing state in a small JSON file that reopens to a bit-identical render.

A session names its model by source (a checkpoint path, "bundled" or "random:<preset>") and by fingerprint (SHA-256 of
config and weights, :func:`panohead.checkpoint.model_fingerprint`), so a checkpoint that changed
since is refused rather than silently rendering something else. Latents and direction vectors are
stored inside the file as base64 float32, exactly. ``view`` is the app's own display settings
(any JSON object), kept as is. Problems are one-line :class:`SessionError` messages naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import torch

from panohead import json_numbers
from panohead.atomic import write_bytes_atomic
from panohead.checkpoint import CheckpointError, model_fingerprint
from panohead.editing.directions import Direction, DirectionEdit
from panohead.editing.keyframes import Keyframe, PathSettings
from panohead.editing.latents import FloatArray, Latent
from panohead.editing.state import FOLLOW_CAMERA, Camera, EditState, Mixing
from panohead.errors import UserError, one_line
from panohead.generator import PanoHeadGenerator
from panohead.model_source import ModelSource
from panohead.numbers import Bounds, number_problem
from panohead.untrusted import UntrustedDataError, parse_json, read_file_capped
from panohead.userdirs import config_folder

FORMAT = "panohead-studio-session"
VERSION = 1
RECENT_NAME = "recent_sessions.json"
RECENT_LIMIT = 10
# Ranges a session's numbers must lie in (wide: yaw may wind many turns; radius and fov must be positive).
PSI_BOUNDS = (-10.0, 10.0)
CAMERA_BOUNDS = {"yaw": (-1e6, 1e6), "pitch": (-90.0, 90.0), "radius": (1e-3, 1e3), "fov": (0.1, 179.0)}
SESSION_LIMIT = 64 * 2**20  # bytes; a session with 100 keyframes of 512-wide latents is about 3 MB


class SessionError(UserError):
    """A session cannot be saved or opened; one line naming the file and the problem."""


@dataclass(frozen=True)
class ModelReference:
    """Which model a session edits: ``source`` as text :class:`~panohead.model_source.ModelSource`
    parses (a checkpoint path, "bundled" or "random:<preset>"); ``fingerprint`` its :func:`model_fingerprint`."""

    source: str
    fingerprint: str

    @classmethod
    def of(cls, generator: PanoHeadGenerator, source: str | os.PathLike) -> ModelReference:
        """Reference ``generator`` loaded from ``source`` (checkpoint files are stored as absolute paths)."""
        source = str(source)
        return cls(str(Path(source).resolve()) if Path(source).is_file() else source, model_fingerprint(generator))


@dataclass(frozen=True)
class Session:
    model: ModelReference
    state: EditState
    keyframes: tuple[Keyframe, ...] = ()
    path: PathSettings = field(default_factory=PathSettings)
    directions: tuple[Direction, ...] = ()  # the user's named and loaded directions
    view: dict[str, Any] = field(default_factory=dict)


# --- Writing -------------------------------------------------------------------------------------
def save_session(path: str | os.PathLike, session: Session) -> None:
    """Write ``session`` as JSON atomically and add it to the recent sessions."""
    path = Path(path)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "model": {"source": session.model.source, "fingerprint": session.model.fingerprint},
        "state": state_to_json(session.state),
        "keyframes": [{"name": k.name, "state": state_to_json(k.state)} for k in session.keyframes],
        "path": dataclasses.asdict(session.path),
        "directions": [_direction_json(d) for d in session.directions],
        "view": session.view,
    }
    try:
        data = json_numbers.dumps(document, indent=1, allow_nan=False).encode()
        write_bytes_atomic(path, data)
    except (OSError, TypeError, ValueError) as error:
        raise SessionError(f"{path}: cannot save session ({error})") from None
    remember_session(path)


def _latent_json(latent: Latent | None) -> dict | None:
    if latent is None:
        return None
    if latent.seed_b is not None:
        return {"seed": latent.seed, "seed_b": latent.seed_b, "blend": latent.blend, "name": latent.name}
    if latent.seed is not None:
        return {"seed": latent.seed, "name": latent.name}
    if latent.z is not None:
        return {"z": latent.z.to_json(), "name": latent.name}
    return {"ws": latent.ws.to_json(), "name": latent.name}


def _direction_json(direction: Direction) -> dict:
    return {
        "name": direction.name,
        "vector": direction.vector.to_json(),
        "scale": direction.scale,
        "explained": direction.explained,
    }


def state_to_json(state: EditState) -> dict:
    """The JSON form of ``state`` (sessions, keyframes, the viewer's settings file), exact to the bit."""
    return {
        "latent": _latent_json(state.latent),
        "psi": state.psi,
        "cutoff": state.cutoff,
        "conditioning": state.conditioning if state.follows_camera else list(state.conditioning),
        "mixing": {
            "latent": _latent_json(state.mixing.latent),
            "layers": list(state.mixing.layers),
            "background_layers": list(state.mixing.background_layers),
        },
        "directions": [
            {
                "direction": _direction_json(e.direction),
                "amount": e.amount,
                "layers": None if e.layers is None else list(e.layers),
            }
            for e in state.directions
        ],
        "background": _latent_json(state.background),
        "camera": {**dataclasses.asdict(state.camera), "look_at": _list(state.camera.look_at)},
    }


def _list(values: tuple | None) -> list | None:
    return None if values is None else list(values)


# --- Reading -------------------------------------------------------------------------------------
class _Malformed(ValueError):
    pass


def read_session(path: str | os.PathLike) -> Session:
    """Parse a session file (without loading its model)."""
    path = Path(path)
    try:
        document = parse_json(read_file_capped(path, SESSION_LIMIT, "the session file"))
    except FileNotFoundError:
        raise SessionError(f"{path}: session file not found") from None
    except OSError as error:
        raise SessionError(f"{path}: cannot read session file ({one_line(error)})") from None
    except UntrustedDataError as error:
        raise SessionError(f"{path}: malformed session JSON ({error})") from None
    try:
        return _session(document)
    except _Malformed as error:
        raise SessionError(f"{path}: {error}") from None


TYPE_WORDS = {dict: "an object", list: "an array", str: "text", int: "a whole number", float: "a number"}


def _is(value: Any, kind: type) -> bool:
    """JSON type check: true/false are not numbers, whole numbers are numbers."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def _need(values: Any, key: str, kind: type, where: str, optional: bool = False) -> Any:
    """``values[key]`` checked to be of JSON ``kind``; None when ``optional`` and missing or null."""
    if not isinstance(values, dict):
        raise _Malformed(f"{where} must be an object")
    value = values.get(key)
    if value is None:
        if optional:
            return None
        raise _Malformed(f"{where}.{key} is missing")
    if not _is(value, kind):
        raise _Malformed(f"{where}.{key} must be {TYPE_WORDS[kind]}, got {json.dumps(value)[:40]}")
    return value


@overload
def _number(
    values: Any, key: str, where: str, optional: Literal[False] = False, bounds: Bounds | None = None
) -> float: ...
@overload
def _number(values: Any, key: str, where: str, optional: bool, bounds: Bounds | None = None) -> float | None: ...
def _number(values: Any, key: str, where: str, optional: bool = False, bounds: Bounds | None = None) -> float | None:
    """A finite number, within ``bounds`` when given (NaN would render a blank image)."""
    value = _need(values, key, float, where, optional)
    if value is None:
        return None
    problem = number_problem(value, bounds)
    if problem:
        raise _Malformed(f"{where}.{key} {problem}")
    return float(value)


def _pair(values: Any, key: str, kind: type, where: str, optional: bool = False) -> tuple | None:
    return _numbers(values, key, kind, 2, where, optional)


def _triple(values: Any, key: str, where: str) -> tuple[float, float, float] | None:
    return _numbers(values, key, float, 3, where, optional=True)


def _numbers(values: Any, key: str, kind: type, count: int, where: str, optional: bool) -> tuple | None:
    """``count`` finite numbers (whole numbers when ``kind`` is int)."""
    value = _need(values, key, list, where, optional)
    if value is None:
        return None
    if len(value) != count or any(number_problem(v, integer=kind is int) for v in value):
        numbers = "whole numbers" if kind is int else "finite numbers"
        raise _Malformed(
            f"{where}.{key} must be {['', 'one', 'two', 'three'][count]} {numbers}, got {json.dumps(value)[:40]}"
        )
    return tuple(kind(v) for v in value)


def _array(values: Any, key: str, where: str) -> FloatArray:
    try:
        return FloatArray.from_json(_need(values, key, dict, where))
    except ValueError as error:
        raise _Malformed(f"{where}.{key}: {error}") from None


def _latent(values: Any, where: str) -> Latent | None:
    if values is None:
        return None
    name = _need(values, "name", str, where, optional=True) or ""
    seed = _need(values, "seed", int, where, optional=True)
    if seed is None and "ws" not in values and "z" not in values:
        raise _Malformed(f"{where} needs a 'seed', 'z' or 'ws'")
    z = _array(values, "z", where) if seed is None and "z" in values else None
    ws = None if seed is not None or z is not None else _array(values, "ws", where)
    seed_b = _need(values, "seed_b", int, where, optional=True)
    blend = _number(values, "blend", where, optional=True, bounds=(0.0, 1.0)) or 0.0
    try:
        return Latent(seed=seed, ws=ws, name=name, z=z, seed_b=seed_b, blend=blend)
    except ValueError as error:
        raise _Malformed(f"{where}: {error}") from None


def _direction(values: Any, where: str) -> Direction:
    vector = _array(values, "vector", where)
    if len(vector.shape) != 1:
        raise _Malformed(f"{where}.vector must have shape (w_dim,), got {list(vector.shape)}")
    return Direction(
        _need(values, "name", str, where),
        vector,
        _number(values, "scale", where),
        _number(values, "explained", where, optional=True),
    )


def _state(values: Any, where: str) -> EditState:
    mixing = _need(values, "mixing", dict, where)
    edits = []
    for index, edit in enumerate(_need(values, "directions", list, where)):
        spot = f"{where}.directions[{index}]"
        edits.append(
            DirectionEdit(
                _direction(_need(edit, "direction", dict, spot), f"{spot}.direction"),
                _number(edit, "amount", spot),
                _pair(edit, "layers", int, spot, optional=True),
            )
        )
    camera = _need(values, "camera", dict, where)
    yaw, pitch = (_number(camera, k, f"{where}.camera", bounds=CAMERA_BOUNDS[k]) for k in ("yaw", "pitch"))
    radius, fov = (
        _number(camera, k, f"{where}.camera", optional=True, bounds=CAMERA_BOUNDS[k]) for k in ("radius", "fov")
    )
    latent = _latent(_need(values, "latent", dict, where), f"{where}.latent")
    return EditState(
        latent=latent,
        psi=_number(values, "psi", where, bounds=PSI_BOUNDS),
        cutoff=_need(values, "cutoff", int, where, optional=True),
        conditioning=_conditioning(values, where),
        mixing=Mixing(
            _latent(_need(mixing, "latent", dict, f"{where}.mixing", optional=True), f"{where}.mixing.latent"),
            _pair(mixing, "layers", int, f"{where}.mixing"),
            _pair(mixing, "background_layers", int, f"{where}.mixing"),
        ),
        directions=tuple(edits),
        background=_latent(_need(values, "background", dict, where, optional=True), f"{where}.background"),
        camera=Camera(yaw, pitch, radius, fov, _triple(camera, "look_at", f"{where}.camera")),
    )


def state_from_json(values: Any, where: str = "state") -> EditState:
    """Inverse of :func:`state_to_json`; a ``ValueError`` names the entry at fault."""
    return _state(values, where)


def _conditioning(values: Any, where: str) -> tuple[float, float] | str:
    if values.get("conditioning") == FOLLOW_CAMERA:
        return FOLLOW_CAMERA
    angles = _pair(values, "conditioning", float, where)
    assert angles is not None  # a required entry: _pair raised if it was missing
    return angles


def _session(document: Any) -> Session:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Malformed(f'not a PanoHead Studio session (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise _Malformed(f"session version {version!r} is not supported (this version reads {VERSION})")
    model = _need(document, "model", dict, "session")
    keyframes = [
        Keyframe(
            _state(_need(k, "state", dict, f"keyframes[{i}]"), f"keyframes[{i}].state"),
            _need(k, "name", str, f"keyframes[{i}]", optional=True) or "",
        )
        for i, k in enumerate(_need(document, "keyframes", list, "session"))
    ]
    try:
        path = PathSettings(**_need(document, "path", dict, "session"))
    except (TypeError, ValueError) as error:
        raise _Malformed(f"session.path: {error}") from None
    return Session(
        model=ModelReference(_need(model, "source", str, "model"), _need(model, "fingerprint", str, "model")),
        state=_state(_need(document, "state", dict, "session"), "state"),
        keyframes=tuple(keyframes),
        path=path,
        directions=tuple(
            _direction(d, f"directions[{i}]") for i, d in enumerate(_need(document, "directions", list, "session"))
        ),
        view=_need(document, "view", dict, "session"),
    )


# --- The model -----------------------------------------------------------------------------------
def checkpoint_path(session_file: str | os.PathLike, session: Session) -> Path | None:
    """The checkpoint file a session names, checked to exist (None for "bundled" or "random:<preset>")."""
    path = ModelSource.parse(session.model.source).path
    if path is not None and not path.is_file():
        raise SessionError(f"{session_file}: its checkpoint {path} is missing (moved or deleted?)")
    return path


def check_model(session_file: str | os.PathLike, session: Session, generator: PanoHeadGenerator) -> None:
    """Refuse a model whose weights differ from the ones the session was saved with."""
    found = model_fingerprint(generator)
    if found != session.model.fingerprint:
        raise SessionError(
            f"{session_file}: checkpoint {session.model.source} has changed since the session was "
            f"saved (fingerprint {found[:12]}, expected {session.model.fingerprint[:12]})"
        )


def open_session(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    load: Callable[[str], PanoHeadGenerator] | None = None,
) -> tuple[Session, PanoHeadGenerator]:
    """Read a session and load its model (``load(source)``; default :meth:`ModelSource.open`).

    Raises :class:`SessionError` if the file is malformed, its checkpoint is missing, unreadable or
    has changed.
    """
    session = read_session(path)
    checkpoint_path(path, session)
    if load is None:
        load = lambda source: ModelSource.parse(source).open(device)  # noqa: E731
    try:
        generator = load(session.model.source)
    except (CheckpointError, OSError, ValueError) as error:
        raise SessionError(f"{path}: cannot load its checkpoint ({one_line(error)})") from None
    check_model(path, session, generator)
    remember_session(path)
    return session, generator


# --- Recent sessions -----------------------------------------------------------------------------
def recent_sessions() -> list[Path]:
    """Session files opened or saved lately, most recent first (ones that no longer exist left out)."""
    try:
        names = parse_json(read_file_capped(config_folder() / RECENT_NAME, SESSION_LIMIT))
    except (OSError, ValueError):
        return []
    if not isinstance(names, list):
        return []
    return [Path(name) for name in names if isinstance(name, str) and Path(name).is_file()]


def remember_session(path: str | os.PathLike) -> None:
    """Put ``path`` first in the recent sessions (best effort: an unwritable config folder is skipped)."""
    entry = str(Path(path).resolve())
    names = [entry] + [str(p) for p in recent_sessions() if str(p) != entry]
    folder = config_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(folder / RECENT_NAME, json.dumps(names[:RECENT_LIMIT], indent=1).encode())
    except OSError:
        pass
