"""The editing session behind the Edit tab: undo/redo, keyframes, sessions and tasks on the render thread.

The head is one engine value, ``app.state.edit`` (:class:`panohead.editing.EditState`); widgets replace
it as the user edits. After the widgets ran, each frame's state is compared with the last recorded
undo step and a new step is recorded when they differ, one step per slider drag or mouse orbit: the
history holds EditState values, and sessions and keyframes are that same value. Work that needs the
model (saving a session, a keyframe path, principal directions, preview strips) runs as a task on
the render thread, which owns the model; its result comes back to the UI thread through
:meth:`Editor.poll`. (Keyframe videos, which take long, run on an export thread: see
:mod:`viz.keyframes_widget`.)
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from imgui_bundle import imgui

from panohead.checkpoint import CheckpointError
from panohead.editing import (
    Direction,
    EditState,
    History,
    Keyframe,
    Latent,
    Mixing,
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
from viz.request import RenderRequest, build_request
from viz.state import update_section, upgrade_settings

if TYPE_CHECKING:
    from viz.app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
SESSION_SECTIONS = ("view", "background", "trigrid")  # view settings a session keeps beside its EditState


@dataclass
class Playback:
    """A keyframe path being played in the view: one state (explicit ws, camera) per frame."""

    frames: list[EditState]
    fps: int
    loop: bool
    start: float
    before: EditState  # restored when playback stops

    def index(self, now: float) -> int | None:
        """Frame to show at ``now``; None once a single pass is over."""
        index = int((now - self.start) * self.fps)
        if index >= len(self.frames):
            return index % len(self.frames) if self.loop else None
        return index


class Editor:
    def __init__(self, app: App, renderer: Renderer, history_limit: int = 200) -> None:
        self.app, self.renderer = app, renderer
        self.keyframes: list[Keyframe] = []
        self.path = PathSettings()
        self.directions: list[Direction] = []  # named and loaded directions (principal ones live in the panel)
        self.history: History[EditState] = History(app.state.edit, history_limit)
        self.playback: Playback | None = None
        self.session_file: Path | None = None
        self.busy: set[str] = set()  # names of tasks in flight (panels disable their buttons)
        self._done: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._was_active = False
        self._gesture = 0
        self._keyframe_count = 0

    # --- requests and tasks -----------------------------------------------------------------------
    def request(self) -> RenderRequest:
        """The render request for what the view shows now."""
        return build_request(self.app.state, str(self.app.device))

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
                message = one_line(error)
                self._done.put(lambda: self._failed(name, message, failed))
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
    def track(self) -> None:
        """Record this frame's change as an undo step (call after the widgets ran, every frame).

        Changes made while one control is held (a slider drag, an orbit with the mouse) are one step.
        While the turntable spins, its yaw is not an edit.
        """
        if self.playback is not None:
            return
        active = imgui.is_any_item_active()
        if active and not self._was_active:
            self._gesture += 1
        self._was_active = active
        current, recorded = self.app.state.edit, self.history.current
        if current == recorded or (self.app.state.view.turntable and _without_yaw(current) == _without_yaw(recorded)):
            return
        self.history.push(current, describe(recorded, current), ("gesture", self._gesture) if active else None)

    def undo(self) -> None:
        if self.history.can_undo and self.playback is None:
            self.app.notify(f"undid {self.history.undo_label}")
            self.app.state.edit = self.history.undo()

    def redo(self) -> None:
        if self.history.can_redo and self.playback is None:
            self.app.notify(f"redid {self.history.redo_label}")
            self.app.state.edit = self.history.redo()

    # --- edits ------------------------------------------------------------------------------------
    def change(self, **changes: Any) -> None:
        """Replace fields of the head's :class:`EditState` (``latent``, ``mixing``, ``directions``, ...)."""
        self.app.state.edit = self.app.state.edit.replace(**changes)

    def open_head(self, latent: Latent) -> None:
        """Show a newly opened head (an inversion result, a latent file, explicit ws) from a clean edit
        state: no style mixing, directions or explicit background from the head before, which would
        otherwise be applied to it unseen. :meth:`track` records the change as one step, so the previous
        head and its edits are one undo away."""
        background = self.app.state.edit.background  # a background seed picked in its panel stays
        self.change(
            latent=latent,
            mixing=Mixing(),
            directions=(),
            background=background if background is not None and background.ws is None else None,
        )

    def use_latent(self, ws: torch.Tensor, name: str) -> None:
        """Edit explicit ws (1, num_ws, w_dim) as the head, e.g. an inverted photo's latent, from a clean edit state."""
        self.open_head(Latent.from_ws(ws, name))

    def show(self, state: EditState) -> None:
        """Show ``state`` (a keyframe, a session's head) as it was saved; the turntable stops."""
        self.app.state.edit = state
        self.app.state.view.turntable = False

    # --- sessions ---------------------------------------------------------------------------------
    def save_session(self, path: str | Path) -> None:
        """Write the head, keyframes and view settings to ``path`` (JSON, atomically) from the render thread."""
        path = Path(path)
        state, source, device = self.request().edit, self.app.state.model.source, str(self.app.device)
        keyframes, settings, directions = tuple(self.keyframes), self.path, tuple(self.directions)
        view = {name: dataclasses.asdict(getattr(self.app.state, name)) for name in SESSION_SECTIONS}

        def work(renderer: Renderer) -> Path:
            G, _ = renderer.model(source, device)
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
        view = upgrade_settings(session.view, [])  # a session saved before the head was one EditState
        for name in SESSION_SECTIONS:
            values = view.get(name)
            if isinstance(values, dict):
                update_section(getattr(state, name), values, strict=False)
        self.keyframes, self.path, self.directions = list(session.keyframes), session.path, list(session.directions)
        self._keyframe_count = len(self.keyframes)
        self.stop()
        self.show(session.state)
        self.history.reset(state.edit, "open session")
        self.session_file = path
        remember_session(path)
        self.app.notify(f"opened session {path}")

    # --- keyframes --------------------------------------------------------------------------------
    def add_keyframe(self) -> None:
        """Append the head and camera on screen (its exact EditState) to the keyframes."""
        self._keyframe_count += 1
        self.keyframes.append(Keyframe(self.request().edit, f"Keyframe {self._keyframe_count}"))

    def go_to_keyframe(self, index: int) -> None:
        self.show(self.keyframes[index].state)

    def play(self, loop: bool = False) -> None:
        """Compute the path's latents on the render thread, then step through them at the path's fps."""
        keyframes, settings = list(self.keyframes), self.path
        source, device = self.app.state.model.source, str(self.app.device)

        def work(renderer: Renderer) -> list[EditState]:
            G, _ = renderer.model(source, device)
            with torch.inference_mode():
                return [
                    EditState(
                        latent=Latent.from_ws(frame.ws[0], "playback"),
                        background=None
                        if frame.background_ws is None
                        else Latent.from_ws(_padded(frame.background_ws, G.num_ws)[0], "playback"),
                        camera=frame.camera,
                    )
                    for frame in path_frames(G, keyframes, settings)
                ]

        def done(frames: list[EditState]) -> None:
            self.playback = Playback(frames, settings.fps, loop, time.monotonic(), self.app.state.edit)
            self._advance_playback()

        self.run_task("play", work, done)

    def _advance_playback(self) -> None:
        index = self.playback.index(time.monotonic())
        if index is None:
            self.stop()
            return
        self.show(self.playback.frames[index])

    def stop(self) -> None:
        """End playback and go back to what was shown before it."""
        if self.playback is not None:
            before, self.playback = self.playback.before, None
            self.app.state.edit = before


def _padded(background_ws: torch.Tensor, rows: int) -> torch.Tensor:
    """Background ws (1, Nb, w_dim) as a full-length latent (1, rows, w_dim): the background network
    reads only its first Nb rows, so the padding (the last row repeated) is never used."""
    missing = rows - background_ws.shape[1]
    if missing <= 0:
        return background_ws[:, :rows]
    return torch.cat([background_ws, background_ws[:, -1:].expand(-1, missing, -1)], dim=1)


def _without_yaw(state: EditState) -> EditState:
    return state.with_camera(yaw=0.0)


def describe(before: EditState, after: EditState) -> str:
    """Short label of what changed between two steps: "seed", "yaw, pitch", "mixing", ..."""
    changed = []
    old, new = before.latent, after.latent
    if old != new:
        if old.ws is None and new.ws is None and old.z is None and new.z is None:
            changed += [name for name in ("seed", "seed_b", "blend") if getattr(old, name) != getattr(new, name)]
        else:
            changed.append("head latent")
    for name in ("psi", "cutoff", "conditioning", "mixing", "directions"):
        if getattr(before, name) != getattr(after, name):
            changed.append(name)
    if before.background != after.background:
        changed.append("background latent")
    for name in ("yaw", "pitch", "radius", "fov", "look_at"):
        if getattr(before.camera, name) != getattr(after.camera, name):
            changed.append(name)
    return ", ".join(changed) or "edit"
