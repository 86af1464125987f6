"""The editing session behind the Edit tab: edits in every render request, undo/redo, keyframes, sessions.

The viewer's own panels keep writing :class:`viz.state.AppState`; the editor adds what the engine's
editing needs (style mixing, directions, explicit latents such as inverted photos) as
:class:`viz.request.Edits`, and watches both: after the widgets ran, each frame's undoable settings
are compared with the last recorded step and a new step is recorded when they differ, one step per
slider drag or mouse orbit. Work that needs the model (saving a session, keyframes, a keyframe path,
principal directions, preview strips) runs as a task on the render thread, which owns the model;
its result comes back to the UI thread through :meth:`Editor.poll`. (Keyframe videos, which take
long, run on an export thread: see :mod:`viz.keyframes_widget`.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from imgui_bundle import imgui

from panohead.camera import DEFAULT_LOOK_AT, DEFAULT_RADIUS
from panohead.checkpoint import CheckpointError
from panohead.editing import (
    Camera,
    Direction,
    EditState,
    History,
    Keyframe,
    Latent,
    ModelReference,
    PathSettings,
    Session,
    SessionError,
    path_frames,
    read_session,
    save_session,
)
from panohead.editing.session import check_model, checkpoint_path, remember_session
from panohead.errors import one_line
from viz.renderer import USER_ERRORS, Renderer
from viz.request import Edits, RenderRequest, build_request
from viz.state import DEFAULT_FOV, update_section

if TYPE_CHECKING:
    from viz.app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
UNDOABLE = ("latent", "camera", "conditioning", "background")  # AppState sections undo restores
NOT_EDITS = ("turntable", "turntable_speed")  # camera settings that animate rather than edit
SESSION_SECTIONS = ("latent", "camera", "conditioning", "view", "background", "trigrid")


@dataclass(frozen=True)
class Snapshot:
    """What one undo step restores: the undoable AppState sections (JSON text) and the edits."""

    settings: str
    edits: Edits


@dataclass
class Playback:
    """A keyframe path being played in the view: per frame the edits (explicit ws) and the camera."""

    frames: list[tuple[Edits, Camera]]
    fps: int
    loop: bool
    start: float
    before: Snapshot  # restored when playback stops

    def index(self, now: float) -> int | None:
        """Frame to show at ``now``; None once a single pass is over."""
        index = int((now - self.start) * self.fps)
        if index >= len(self.frames):
            return index % len(self.frames) if self.loop else None
        return index


class Editor:
    def __init__(self, app: App, renderer: Renderer, history_limit: int = 200) -> None:
        self.app, self.renderer = app, renderer
        self.edits = Edits()
        self.keyframes: list[Keyframe] = []
        self.path = PathSettings()
        self.directions: list[Direction] = []  # named and loaded directions (principal ones live in the panel)
        self.history: History[Snapshot] = History(self.snapshot(), history_limit)
        self.playback: Playback | None = None
        self.session_file: Path | None = None
        self.busy: set[str] = set()  # names of tasks in flight (panels disable their buttons)
        self._done: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._was_active = False
        self._gesture = 0
        self._keyframe_count = 0

    # --- requests and tasks -----------------------------------------------------------------------
    def request(self) -> RenderRequest:
        """The render request for what the view shows now, edits included."""
        return build_request(self.app.state, str(self.app.device), self.edits)

    def run_task(
        self,
        name: str,
        work: Callable[[Renderer], T],
        done: Callable[[T], None],
        failed: Callable[[], None] = lambda: None,
    ) -> None:
        """``work(renderer)`` on the render thread; then, on the UI thread, ``done(value)``, or a one-line
        error message and ``failed()`` if ``work`` raised. ``name`` is in :attr:`busy` meanwhile."""
        self.busy.add(name)

        def task() -> None:
            try:
                value = work(self.renderer)
            except (SessionError, *USER_ERRORS) as error:
                self._done.put(lambda message=one_line(error): self._failed(name, message, failed))
            except Exception as error:  # a bug: keep the app alive and say so
                log.exception("editing task %s failed", name)
                message = f"internal error: {type(error).__name__}: {one_line(error)}"
                self._done.put(lambda: self._failed(name, message, failed))
            else:
                self._done.put(lambda: (self.busy.discard(name), done(value)))
            self.app.window.wake()

        self.app.renderer.submit_task(task)

    def _failed(self, name: str, message: str, failed: Callable[[], None]) -> None:
        self.busy.discard(name)
        self.app.notify(message, error=True)
        failed()

    def poll(self) -> None:
        """Deliver finished tasks and advance playback (call once per frame, before the widgets)."""
        while True:
            try:
                callback = self._done.get_nowait()
            except queue.Empty:
                break
            callback()
        if self.playback is not None:
            self._advance_playback()

    # --- undo and redo ----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        state = self.app.state
        sections = {name: dataclasses.asdict(getattr(state, name)) for name in UNDOABLE}
        for key in NOT_EDITS:
            sections["camera"].pop(key)
        return Snapshot(json.dumps(sections, sort_keys=True), self.edits)

    def track(self) -> None:
        """Record this frame's change as an undo step (call after the widgets ran, every frame).

        Changes made while one control is held (a slider drag, an orbit with the mouse) are one step.
        While the turntable spins, its yaw is not an edit. Picking a seed or file in the Latent panel
        replaces an explicit head latent (an inverted photo, a session's blend).
        """
        if self.playback is not None:
            return
        active = imgui.is_any_item_active()
        if active and not self._was_active:
            self._gesture += 1
        self._was_active = active
        current, recorded = self.snapshot(), self.history.current
        if self._same(current, recorded):
            return
        if self.edits.latent is not None and self.edits.latent == recorded.edits.latent and _picked(recorded, current):
            self.edits = dataclasses.replace(self.edits, latent=None)  # a seed or file picked in the Latent panel
            current = self.snapshot()
        self.history.push(current, describe(recorded, current), ("gesture", self._gesture) if active else None)

    def _same(self, a: Snapshot, b: Snapshot) -> bool:
        if a == b:
            return True
        return self.app.state.camera.turntable and a.edits == b.edits and _without_yaw(a) == _without_yaw(b)

    def undo(self) -> None:
        if self.history.can_undo and self.playback is None:
            self.app.notify(f"undid {self.history.undo_label}")
            self.restore(self.history.undo())

    def redo(self) -> None:
        if self.history.can_redo and self.playback is None:
            self.app.notify(f"redid {self.history.redo_label}")
            self.restore(self.history.redo())

    def restore(self, snapshot: Snapshot) -> None:
        for name, values in json.loads(snapshot.settings).items():
            update_section(getattr(self.app.state, name), values, strict=True)
        self.edits = snapshot.edits

    # --- edits ------------------------------------------------------------------------------------
    def set_edits(self, **changes: Any) -> None:
        """Replace fields of :attr:`edits` (``latent``, ``background``, ``mixing``, ``directions``)."""
        self.edits = dataclasses.replace(self.edits, **changes)

    def clear_edits(self, latent: Latent | None = None) -> None:
        """A newly opened head (an inversion result, a latent file, explicit ws) starts from a clean edit
        state: no style mixing, directions or explicit background from the head before, which would
        otherwise be applied to it unseen. :meth:`track` records the change as one step, so the previous
        head and its edits are one undo away."""
        self.edits = Edits(latent=latent)

    def use_latent(self, ws: torch.Tensor, name: str) -> None:
        """Edit explicit ws (1, num_ws, w_dim) as the head, e.g. an inverted photo's latent, from a clean edit state."""
        self.clear_edits(Latent.from_ws(ws, name))

    def apply_state(self, state: EditState, restore_conditioning: bool = True) -> None:
        """Show an engine editing state: seeds go to the latent panel, explicit ws to the edits."""
        app_state, model = self.app.state, self.app.model
        latent = app_state.latent
        latent.psi, latent.cutoff = state.psi, state.cutoff
        latent.file, latent.blend = "", 0.0
        if state.latent.seed is not None:
            latent.seed = state.latent.seed
        camera = app_state.camera
        camera.yaw, camera.pitch, camera.turntable = state.camera.yaw % 360.0, state.camera.pitch, False
        camera.radius = state.camera.radius or (model.camera_radius if model else DEFAULT_RADIUS)
        camera.fov = state.camera.fov or (round(model.fov, 3) if model else DEFAULT_FOV)
        camera.look_at = tuple(state.camera.look_at or (model.look_at if model else DEFAULT_LOOK_AT))
        if restore_conditioning:
            conditioning = app_state.conditioning
            conditioning.yaw, conditioning.pitch = state.conditioning
            conditioning.mode = "frontal" if state.conditioning == (0.0, 0.0) else "custom"
        background = app_state.background
        if state.background is not None and state.background.seed is not None:
            background.mode, background.seed = "seed", state.background.seed
        elif background.mode == "seed":
            background.mode = "same"
        explicit_background = state.background if state.background and state.background.ws is not None else None
        self.edits = Edits(
            latent=state.latent if state.latent.ws is not None else None,
            background=explicit_background,
            mixing=state.mixing,
            directions=state.directions,
        )

    # --- sessions ---------------------------------------------------------------------------------
    def save_session(self, path: str | Path) -> None:
        """Write the whole editing state to ``path`` (JSON, atomically) from the render thread."""
        path = Path(path)
        request, source = self.request(), self.app.state.model.source
        keyframes, settings, directions = tuple(self.keyframes), self.path, tuple(self.directions)
        view = {name: dataclasses.asdict(getattr(self.app.state, name)) for name in SESSION_SECTIONS}

        def work(renderer: Renderer) -> Path:
            state, G = renderer.edit_state(request)
            save_session(path, Session(ModelReference.of(G, source), state, keyframes, settings, directions, view))
            return path

        def done(saved: Path) -> None:
            self.session_file = saved
            self.app.notify(f"saved session {saved}")

        self.run_task("session", work, done)

    def open_session(self, path: str | Path) -> None:
        """Read ``path``, load and check its model on the render thread, then show it exactly."""
        path = Path(path)
        try:
            session = read_session(path)
            checkpoint_path(path, session)
        except SessionError as error:
            self.app.notify(str(error), error=True)
            return
        device = str(self.app.device)

        def work(renderer: Renderer) -> Session:
            try:
                G, _ = renderer.model(session.model.source, device)
            except (CheckpointError, OSError, ValueError) as error:
                raise SessionError(f"{path}: cannot load its checkpoint ({one_line(error)})") from None
            check_model(path, session, G)
            return session

        self.run_task("session", work, lambda opened: self._show_session(path, opened))

    def _show_session(self, path: Path, session: Session) -> None:
        state = self.app.state
        state.model.source = session.model.source
        for name in SESSION_SECTIONS:
            values = session.view.get(name)
            if isinstance(values, dict):
                update_section(getattr(state, name), values, strict=False)
        self.apply_state(session.state, restore_conditioning="conditioning" not in session.view)
        self.keyframes, self.path, self.directions = list(session.keyframes), session.path, list(session.directions)
        self._keyframe_count = len(self.keyframes)
        self.stop()
        self.history.reset(self.snapshot(), "open session")
        self.session_file = path
        remember_session(path)
        self.app.notify(f"opened session {path}")

    # --- keyframes --------------------------------------------------------------------------------
    def add_keyframe(self) -> None:
        """Append the head and camera on screen (as the exact engine state) to the keyframes."""
        request = self.request()
        self._keyframe_count += 1
        name = f"Keyframe {self._keyframe_count}"
        self.run_task(
            "keyframe",
            lambda renderer: renderer.edit_state(request)[0],
            lambda state: self.keyframes.append(Keyframe(state, name)),
        )

    def go_to_keyframe(self, index: int) -> None:
        self.apply_state(self.keyframes[index].state, restore_conditioning=True)

    def play(self, loop: bool = False) -> None:
        """Compute the path's latents on the render thread, then step through them at the path's fps."""
        keyframes, settings = list(self.keyframes), self.path
        source, device = self.app.state.model.source, str(self.app.device)

        def work(renderer: Renderer) -> list[tuple[Edits, Camera]]:
            G, _ = renderer.model(source, device)
            with torch.inference_mode():
                return [
                    (
                        Edits(
                            latent=Latent.from_ws(frame.ws[0], "playback"),
                            background=None
                            if frame.background_ws is None
                            else Latent.from_ws(_padded(frame.background_ws, G.num_ws)[0], "playback"),
                        ),
                        frame.camera,
                    )
                    for frame in path_frames(G, keyframes, settings)
                ]

        def done(frames: list[tuple[Edits, Camera]]) -> None:
            self.playback = Playback(frames, settings.fps, loop, time.monotonic(), self.snapshot())
            self._advance_playback()

        self.run_task("play", work, done)

    def _advance_playback(self) -> None:
        playback = self.playback
        index = playback.index(time.monotonic())
        if index is None:
            self.stop()
            return
        edits, camera = playback.frames[index]
        self.edits = edits
        state_camera = self.app.state.camera
        state_camera.yaw, state_camera.pitch, state_camera.turntable = camera.yaw, camera.pitch, False
        state_camera.radius = camera.radius if camera.radius is not None else state_camera.radius
        state_camera.fov = camera.fov if camera.fov is not None else state_camera.fov
        state_camera.look_at = tuple(camera.look_at) if camera.look_at is not None else state_camera.look_at

    def stop(self) -> None:
        """End playback and go back to what was shown before it."""
        if self.playback is not None:
            before, self.playback = self.playback.before, None
            self.restore(before)


def _padded(background_ws: torch.Tensor, rows: int) -> torch.Tensor:
    """Background ws (1, Nb, w_dim) as a full-length latent (1, rows, w_dim): the background network
    reads only its first Nb rows, so the padding (the last row repeated) is never used."""
    missing = rows - background_ws.shape[1]
    if missing <= 0:
        return background_ws[:, :rows]
    return torch.cat([background_ws, background_ws[:, -1:].expand(-1, missing, -1)], dim=1)


def _picked(before: Snapshot, after: Snapshot) -> bool:
    """Whether the Latent panel's choice of head (seeds, blend, file) changed between two snapshots."""
    old, new = json.loads(before.settings)["latent"], json.loads(after.settings)["latent"]
    return any(old[key] != new[key] for key in ("seed", "seed_b", "blend", "file"))


def _without_yaw(snapshot: Snapshot) -> dict:
    settings = json.loads(snapshot.settings)
    settings["camera"].pop("yaw")
    return settings


def describe(before: Snapshot, after: Snapshot) -> str:
    """Short label of what changed between two steps: "seed", "yaw, pitch", "mixing", ..."""
    old, new = json.loads(before.settings), json.loads(after.settings)
    changed = []
    for section in UNDOABLE:
        for key in new[section]:
            if old[section].get(key) != new[section][key]:
                changed.append(f"background {key}" if section == "background" else key)
    for name in ("latent", "background", "mixing", "directions"):
        if getattr(before.edits, name) != getattr(after.edits, name):
            changed.append({"latent": "head latent", "background": "background latent"}.get(name, name))
    return ", ".join(dict.fromkeys(changed)) or "edit"
