"""Open/save dialogs that never block the UI, and a path field with a "Browse..." button.

The desktop's own dialog (imgui-bundle's portable-file-dialogs) is used where it works; on Linux it
drives zenity, kdialog, qarma or matedialog, and without any of them (minimal installs) the
in-app :mod:`viz.file_browser` takes over, so Browse always works. ``PANOHEAD_STUDIO_FILE_DIALOG=builtin``
picks the in-app browser everywhere (the GUI tests use it). Either way a widget calls
:meth:`FileDialog.open` or :meth:`FileDialog.save` once and :meth:`FileDialog.poll` every frame.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
from pathlib import Path

from imgui_bundle import imgui
from imgui_bundle import portable_file_dialogs as pfd

from viz.file_browser import FileBrowser, draw_file_browser

LINUX_DIALOG_PROGRAMS = ("zenity", "kdialog", "qarma", "matedialog")
BACKEND_VARIABLE = "PANOHEAD_STUDIO_FILE_DIALOG"
# In-app browsers waiting for an answer, oldest first; the app draws the first one each frame
# (:func:`draw_in_app_dialogs`), at the top level so it shows whichever panel asked.
_BROWSERS: list[FileBrowser] = []


@functools.lru_cache(maxsize=1)
def native_dialogs_available() -> bool:
    if platform.system() != "Linux":
        return True
    return any(shutil.which(program) for program in LINUX_DIALOG_PROGRAMS)


def use_native_dialogs() -> bool:
    return os.environ.get(BACKEND_VARIABLE, "").strip().lower() != "builtin" and native_dialogs_available()


class FileDialog:
    """One pending open or save dialog, polled once per frame."""

    def __init__(self) -> None:
        self._native: pfd.open_file | pfd.save_file | pfd.select_folder | None = None
        self._browser: FileBrowser | None = None

    @property
    def pending(self) -> bool:
        return self._native is not None or self._browser is not None

    def open(self, title: str, filters: list[str], folder: str = "", pick_folder: bool = False) -> None:
        """Show an open-file dialog; ``filters`` alternate names and patterns ("Images", "*.png *.jpg").
        With ``pick_folder`` it is a folder chooser instead (``filters`` unused)."""
        if self.pending:
            return
        if not use_native_dialogs():
            self._show(FileBrowser(title, filters, folder, pick_folder=pick_folder))
        elif pick_folder:
            self._native = pfd.select_folder(title, folder)
        else:
            self._native = pfd.open_file(title, folder, filters)

    def save(self, title: str, default_path: str, filters: list[str]) -> None:
        """Show a save dialog starting at ``default_path`` (its folder, its name in the file-name field)."""
        if self.pending:
            return
        if use_native_dialogs():
            self._native = pfd.save_file(title, default_path, filters)
        else:
            path = Path(default_path).expanduser()
            self._show(FileBrowser(title, filters, path.parent, save_name=path.name))

    def _show(self, browser: FileBrowser) -> None:
        self._browser = browser
        _BROWSERS.append(browser)

    def poll(self) -> str | None:
        """The chosen path once the user answered (None while open, after cancel, or with no dialog)."""
        if self._browser is not None:
            if not self._browser.done:
                return None
            answer, self._browser = self._browser.result, None
            return answer
        if self._native is None or not self._native.ready(0):
            return None
        answer = self._native.result()
        self._native = None
        if isinstance(answer, list):
            return answer[0] if answer else None
        return answer or None


def in_app_dialog_open() -> bool:
    """An in-app browser is on screen (it owns the keyboard: the app's shortcuts wait)."""
    return bool(_BROWSERS)


def draw_in_app_dialogs(scale: float) -> None:
    """Draw the oldest waiting in-app browser; call once per frame outside any window."""
    _BROWSERS[:] = [browser for browser in _BROWSERS if not browser.done]
    if _BROWSERS:
        draw_file_browser(_BROWSERS[0], scale)


def path_field(
    label: str, path: str, dialog: FileDialog, title: str, filters: list[str], pick_folder: bool = False
) -> tuple[bool, str]:
    """A text field for a path plus "Browse..." (a folder chooser with ``pick_folder``), which starts
    where the typed path points. Returns (submitted, path): submitted when the user pressed Enter in
    the field or picked a path in the dialog."""
    chosen = dialog.poll()
    if chosen:
        return True, chosen
    browse_width = imgui.calc_text_size("Browse...").x + imgui.get_style().frame_padding.x * 2
    imgui.set_next_item_width(imgui.get_content_region_avail().x - browse_width - imgui.get_style().item_spacing.x)
    entered, path = imgui.input_text(f"##{label}", path, imgui.InputTextFlags_.enter_returns_true)
    imgui.same_line()
    imgui.begin_disabled(dialog.pending)
    if imgui.button(f"Browse...##{label}"):
        typed = Path(path.strip()).expanduser()
        dialog.open(title, filters, str(typed if pick_folder else typed.parent) if path.strip() else "", pick_folder)
    imgui.end_disabled()
    return entered and bool(path.strip()), path.strip()
