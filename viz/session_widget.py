"""Session panel: undo and redo (Ctrl+Z, Ctrl+Shift+Z), and saving or reopening the whole editing state.

A session file is small JSON: the checkpoint (path and fingerprint), the head's latent and every
edit, the keyframes, the named directions, the camera and the view settings. Opening one loads its
checkpoint, checks it is unchanged, and shows exactly the saved picture; problems are one line.
"""

from __future__ import annotations

import time
from pathlib import Path

from imgui_bundle import imgui

from panohead.editing import recent_sessions
from viz.file_dialog import FileDialog, path_field
from viz.ui import MUTED, hint
from viz.widget import Widget

FILTERS = ["Sessions (.json)", "*.json", "All files", "*"]
SUFFIX = ".json"


class SessionWidget(Widget):
    title = "Session"
    tab = "Edit"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.open_dialog, self.save_dialog = FileDialog(), FileDialog()
        self.path_text = ""
        self._recent: list[Path] = []
        self._recent_time = -1.0

    # --- actions (the File menu and the tests use them too) ---------------------------------------------
    def browse(self) -> None:
        self.open_dialog.open("Open a session", FILTERS)

    def save(self) -> None:
        """Save to the session's own file, or ask where."""
        editor = self.app.editor
        if editor.session_file is not None:
            editor.save_session(editor.session_file)
        else:
            self.save_as()

    def save_as(self) -> None:
        """Ask where to save (the answer arrives through :meth:`__call__`'s poll)."""
        self.save_dialog.save(
            "Save the session", str(Path(self.app.state.capture.folder) / f"session{SUFFIX}"), FILTERS
        )

    def recent(self) -> list[Path]:
        """Recent session files, re-read from disk at most once a second."""
        now = time.monotonic()
        if now - self._recent_time > 1.0:
            self._recent, self._recent_time = recent_sessions(), now
        return self._recent

    def accepts_drop(self, path: str) -> bool:
        return path.lower().endswith(SUFFIX)

    def drop(self, path: str) -> None:
        self.app.editor.open_session(path)

    # --- drawing ------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        editor = self.app.editor
        chosen = self.save_dialog.poll()  # the File menu's dialogs may finish while the panel is closed
        if chosen:
            editor.save_session(chosen if chosen.lower().endswith(SUFFIX) else chosen + SUFFIX)
        if not show:
            chosen = self.open_dialog.poll()
            if chosen:
                editor.open_session(chosen)
            return
        history = editor.history
        imgui.begin_disabled(not history.can_undo or editor.playback is not None)
        if imgui.button(f"Undo {history.undo_label or ''}".strip() + "##undo"):
            editor.undo()
        imgui.end_disabled()
        imgui.same_line()
        imgui.begin_disabled(not history.can_redo or editor.playback is not None)
        if imgui.button(f"Redo {history.redo_label or ''}".strip() + "##redo"):
            editor.redo()
        imgui.end_disabled()
        imgui.text_colored(
            MUTED, f"{len(history)} step{'' if len(history) == 1 else 's'} kept (at most {history.limit})"
        )
        imgui.separator_text("Session file")
        if editor.session_file is not None:
            imgui.text_colored(MUTED, str(editor.session_file))
        busy = "session" in editor.busy
        imgui.begin_disabled(busy)
        if imgui.button("Save"):
            self.save()
        imgui.same_line()
        if imgui.button("Save as..."):
            self.save_as()
        imgui.end_disabled()
        submitted, self.path_text = path_field(
            "session-path", self.path_text, self.open_dialog, "Open a session", FILTERS
        )
        if submitted:
            editor.open_session(self.path_text)
        recent = self.recent()
        if recent:
            imgui.text_colored(MUTED, "Recent")
            for path in recent[:8]:
                if imgui.selectable(f"{path.name}##{path}", path == editor.session_file)[0]:
                    editor.open_session(path)
                imgui.set_item_tooltip(str(path))
        hint(
            "Keeps the checkpoint, latents, every edit, keyframes, camera and view. "
            "Type a path and press Enter to open it, or drop a session .json on the window."
        )
