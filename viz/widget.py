"""The one interface every panel of the sidebar implements.

A widget is called once per UI frame with ``show`` telling whether its panel is open on screen. It
draws its controls only when shown, but runs its per-frame logic (an animation, a finished file
dialog) either way. It reads and writes plain state (``app.state``) and never renders: the app turns
the state into a :class:`viz.request.RenderRequest` after all widgets ran.

Adding a panel: write ``viz/<name>_widget.py`` with a ``Widget`` subclass (``title``, ``tab``) and add
one line to :data:`viz.panels.PANELS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from viz.app import App


class Widget:
    title: str = ""  # collapsing-header text
    tab: str = ""  # sidebar tab the panel lives in; a new name adds a tab
    default_open: bool = True

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, show: bool) -> None:
        raise NotImplementedError

    def accepts_drop(self, path: str) -> bool:
        """Whether a file dropped on the window is for this widget (the first one that accepts gets it)."""
        return False

    def drop(self, path: str) -> None:
        """Handle a dropped file that :meth:`accepts_drop` claimed."""

    def close(self) -> None:
        """The app is closing: finish or cancel background work (e.g. an export) before the window goes."""
