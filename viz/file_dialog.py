"""Native open/save dialogs (imgui-bundle's portable-file-dialogs) that never block the UI, and a
path field with a "Browse..." button that falls back to typing when no dialog program exists.

On Linux portable-file-dialogs drives zenity, kdialog, qarma or matedialog; without any of them
the Browse button is disabled and says what to install.
"""
from __future__ import annotations

import functools
import platform
import shutil

from imgui_bundle import imgui
from imgui_bundle import portable_file_dialogs as pfd

LINUX_DIALOG_PROGRAMS = ("zenity", "kdialog", "qarma", "matedialog")
NO_DIALOG = "no file dialog program found: install zenity or kdialog, or type the path and press Enter"


@functools.lru_cache(maxsize=1)
def dialogs_available() -> bool:
    if platform.system() != "Linux":
        return True
    return any(shutil.which(program) for program in LINUX_DIALOG_PROGRAMS)


class FileDialog:
    """One pending open or save dialog, polled once per frame."""

    def __init__(self) -> None:
        self._dialog: pfd.open_file | pfd.save_file | pfd.select_folder | None = None

    @property
    def pending(self) -> bool:
        return self._dialog is not None

    def open(self, title: str, filters: list[str], folder: str = "", pick_folder: bool = False) -> bool:
        """Show an open-file dialog; ``filters`` alternate names and patterns ("Images", "*.png *.jpg").
        With ``pick_folder`` it is a folder chooser instead (``filters`` unused).

        False when no dialog program exists (the caller tells the user to type the path instead).
        """
        if not dialogs_available():
            return False
        if self._dialog is None:
            self._dialog = pfd.select_folder(title, folder) if pick_folder else pfd.open_file(title, folder, filters)
        return True

    def poll(self) -> str | None:
        """The chosen path once the user answered (None while open, after cancel, or with no dialog)."""
        if self._dialog is None or not self._dialog.ready(0):
            return None
        answer = self._dialog.result()
        self._dialog = None
        if isinstance(answer, list):
            return answer[0] if answer else None
        return answer or None


def path_field(label: str, path: str, dialog: FileDialog, title: str, filters: list[str],
               pick_folder: bool = False) -> tuple[bool, str]:
    """A text field for a path plus "Browse..." (a folder chooser with ``pick_folder``). Returns
    (submitted, path): submitted when the user pressed Enter in the field or picked a path in the dialog."""
    chosen = dialog.poll()
    if chosen:
        return True, chosen
    browse_width = imgui.calc_text_size("Browse...").x + imgui.get_style().frame_padding.x * 2
    imgui.set_next_item_width(imgui.get_content_region_avail().x - browse_width - imgui.get_style().item_spacing.x)
    entered, path = imgui.input_text(f"##{label}", path, imgui.InputTextFlags_.enter_returns_true)
    imgui.same_line()
    available = dialogs_available()
    imgui.begin_disabled(not available or dialog.pending)
    if imgui.button(f"Browse...##{label}"):
        dialog.open(title, filters, pick_folder=pick_folder)
    imgui.end_disabled()
    if not available:
        imgui.set_item_tooltip(NO_DIALOG)
    return entered and bool(path.strip()), path.strip()
