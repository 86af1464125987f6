"""Undo and redo over immutable editing states: a bounded list of snapshots and a cursor.

Each edit pushes the new state with a short label ("seed 5", "PC3 +1.5"). Edits made by dragging a
slider arrive every frame; giving them a ``merge`` key folds consecutive pushes with the same key
into one step, so one drag is undone at once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

State = TypeVar("State")
DEFAULT_LIMIT = 200


@dataclass(frozen=True)
class Step(Generic[State]):
    state: State
    label: str
    merge: Hashable | None = None


class History(Generic[State]):
    """Snapshots ``[oldest, ..., current, ...redoable]``; at most ``limit`` steps are kept (oldest dropped)."""

    def __init__(self, initial: State, limit: int = DEFAULT_LIMIT, label: str = "start") -> None:
        if limit < 2:
            raise ValueError(f"history limit must be at least 2, got {limit}")
        self.limit = limit
        self._steps: list[Step[State]] = [Step(initial, label)]
        self._cursor = 0

    @property
    def current(self) -> State:
        return self._steps[self._cursor].state

    @property
    def can_undo(self) -> bool:
        return self._cursor > 0

    @property
    def can_redo(self) -> bool:
        return self._cursor < len(self._steps) - 1

    @property
    def undo_label(self) -> str | None:
        """What :meth:`undo` would take back, for menus ("Undo seed 5")."""
        return self._steps[self._cursor].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._steps[self._cursor + 1].label if self.can_redo else None

    def __len__(self) -> int:
        return len(self._steps)

    def push(self, state: State, label: str, merge: Hashable | None = None) -> bool:
        """Record ``state`` as the new current state, dropping anything redoable.

        Pushing a state equal to the current one records nothing. With ``merge`` equal to the last
        push's key (and nothing undone since), the last step is replaced instead of added.
        Returns whether anything changed.
        """
        if state == self.current:
            return False
        del self._steps[self._cursor + 1 :]
        last = self._steps[self._cursor]
        if merge is not None and last.merge == merge and self._cursor > 0:
            if state == self._steps[self._cursor - 1].state:
                self._steps.pop()  # the drag came back to where it started: no step at all
            else:
                self._steps[self._cursor] = Step(state, label, merge)
        else:
            self._steps.append(Step(state, label, merge))
        if len(self._steps) > self.limit:
            del self._steps[: len(self._steps) - self.limit]
        self._cursor = len(self._steps) - 1
        return True

    def undo(self) -> State:
        if self.can_undo:
            self._cursor -= 1
            self._seal()
        return self.current

    def redo(self) -> State:
        if self.can_redo:
            self._cursor += 1
            self._seal()
        return self.current

    def reset(self, state: State, label: str = "start") -> None:
        """Forget everything (e.g. after opening a session) and start from ``state``."""
        self._steps = [Step(state, label)]
        self._cursor = 0

    def _seal(self) -> None:
        """After undo/redo a new slider drag must start a new step, not merge into a restored one."""
        step = self._steps[self._cursor]
        if step.merge is not None:
            self._steps[self._cursor] = Step(step.state, step.label)
