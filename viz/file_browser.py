"""An in-app open/save file browser drawn with Dear ImGui, for systems without a native dialog.

portable-file-dialogs needs zenity, kdialog, qarma or matedialog on Linux; minimal installs have none,
and a Browse button that does nothing there would be a lie. :class:`FileBrowser` is the dialog's
state and rules (listing, filters, navigation, the save name and its overwrite check) with no
window, so tests can drive it directly; :func:`draw_file_browser` draws one as a modal window and
turns clicks and keys into calls on it. :mod:`viz.file_dialog` decides when to use it.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from imgui_bundle import imgui

from viz.ui import ERROR, MUTED

RECENT_LIMIT = 8
# Folders a browser last picked a file in, newest first; shared by every browser of the process so
# the next dialog (any panel's) is one click away from where the user was.
RECENT_FOLDERS: list[Path] = []


@dataclass(frozen=True)
class Entry:
    name: str
    is_folder: bool


@dataclass(frozen=True)
class Filter:
    """One named set of shell patterns, e.g. Filter("Images", ("*.png", "*.jpg"))."""

    name: str
    patterns: tuple[str, ...]

    def matches(self, name: str) -> bool:
        lowered = name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.patterns)


def parse_filters(filters: list[str]) -> list[Filter]:
    """The callers' portable-file-dialogs list, names and patterns alternating ("Images", "*.png *.jpg").

    An empty list means every file, like the native dialogs.
    """
    pairs = [
        Filter(name, tuple(patterns.split()) or ("*",))
        for name, patterns in zip(filters[::2], filters[1::2], strict=True)
    ]
    return pairs or [Filter("All files", ("*",))]


def remember_folder(folder: Path) -> None:
    RECENT_FOLDERS[:] = [folder] + [f for f in RECENT_FOLDERS if f != folder][: RECENT_LIMIT - 1]


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


class FileBrowser:
    """The state of one open, save or folder dialog; ``done`` once answered, ``result`` the path or None.

    Open answers with a file; save with a file name typed or picked (asking before replacing a file);
    ``pick_folder`` with the selected folder, or the current one when none is selected.

    Errors the user can fix (a folder that cannot be read, a typed path that does not exist) are one
    line in ``error``; the browser stays where it was.
    """

    def __init__(
        self,
        title: str,
        filters: list[str],
        folder: str | Path = "",
        save_name: str | None = None,
        pick_folder: bool = False,
    ) -> None:
        self.title = title
        self.saving = save_name is not None
        self.picking_folder = pick_folder
        self.filters = parse_filters(filters)
        self.filter_index = 0
        self.show_hidden = False
        self.file_name = save_name or ""
        self.folder = Path.cwd()
        self.location = str(self.folder)
        self.entries: list[Entry] = []
        self.selected: str | None = None
        self.error: str | None = None
        self.confirm_overwrite: Path | None = None
        self.reveal_selection = False  # the view scrolls to the selection once after a keyboard move
        self.done = False
        self.result: str | None = None
        self._start(Path(folder).expanduser() if str(folder) else None)

    def _start(self, wanted: Path | None) -> None:
        """Open ``wanted``'s nearest existing folder, else the last recent folder, the working folder, home."""
        candidates = [*RECENT_FOLDERS[:1], Path.cwd(), Path.home()]
        if wanted is not None:
            absolute = wanted if wanted.is_absolute() else Path.cwd() / wanted
            candidates.insert(0, next((p for p in (absolute, *absolute.parents) if p.is_dir()), absolute))
        errors = []
        for candidate in candidates:
            if self.go(candidate):
                self.error = errors[0] if errors else None
                return
            errors.append(self.error)

    # --- what is shown ------------------------------------------------------------------------------
    @property
    def filter(self) -> Filter:
        return self.filters[self.filter_index]

    def visible(self) -> list[Entry]:
        """Folders first, then files passing the filter (none when picking a folder); each sorted ignoring case."""
        shown = [
            e
            for e in self.entries
            if (self.show_hidden or not e.name.startswith("."))
            and (e.is_folder or (not self.picking_folder and self.filter.matches(e.name)))
        ]
        return sorted(shown, key=lambda e: (not e.is_folder, e.name.lower(), e.name))

    def set_filter(self, index: int) -> None:
        self.filter_index = index
        self._keep_selection_visible()

    def set_show_hidden(self, show: bool) -> None:
        self.show_hidden = show
        self._keep_selection_visible()

    def _keep_selection_visible(self) -> None:
        if self.selected not in {e.name for e in self.visible()}:
            self.selected = None

    # --- navigation ---------------------------------------------------------------------------------
    def go(self, folder: str | Path) -> bool:
        """List ``folder`` (relative paths are from the current folder); False, with ``error`` set, if unreadable."""
        target = self._resolve(folder)
        try:
            entries = []
            with os.scandir(target) as scan:
                for item in scan:
                    try:
                        is_folder = item.is_dir()
                    except OSError:
                        is_folder = False
                    entries.append(Entry(item.name, is_folder))
        except OSError as error:
            self.error = f"{target}: cannot open this folder ({_reason(error)})"
            return False
        self.folder, self.entries, self.location = target, entries, str(target)
        self.selected, self.error, self.confirm_overwrite = None, None, None
        return True

    def up(self) -> bool:
        return self.folder.parent != self.folder and self.go(self.folder.parent)

    def _resolve(self, path: str | Path) -> Path:
        path = Path(os.path.expanduser(str(path).strip()))
        return Path(os.path.normpath(path if path.is_absolute() else self.folder / path))

    def select(self, name: str | None) -> None:
        self.selected = name
        entry = self._entry(name)
        if self.saving and entry is not None and not entry.is_folder:
            self.file_name = entry.name

    def move_selection(self, step: int) -> None:
        """Up/Down arrows: the next or previous visible entry (the first one when nothing is selected)."""
        names = [e.name for e in self.visible()]
        if not names:
            return
        index = names.index(self.selected) + step if self.selected in names else (0 if step > 0 else len(names) - 1)
        self.select(names[min(max(index, 0), len(names) - 1)])
        self.reveal_selection = True

    def activate(self, name: str | None = None) -> None:
        """Double-click or Enter: open a folder, or answer with a file."""
        entry = self._entry(name if name is not None else self.selected)
        if entry is None:
            if self.saving or self.picking_folder:
                self.accept()
            return
        if entry.is_folder:
            self.go(self.folder / entry.name)
        else:
            self.select(entry.name)
            self.accept()

    def submit_location(self, text: str) -> None:
        """The location field: a folder is opened; a file is the answer (a new name too, when saving)."""
        if not text.strip():
            return
        target = self._resolve(text)
        if target.is_dir():
            self.go(target)
        elif self.picking_folder:
            self.error = f"{target}: not a folder"
        elif target.is_file() or (self.saving and target.parent.is_dir()):
            if self.go(target.parent):
                self.select(target.name)
                self.file_name = target.name
                self.accept()
        else:
            self.error = f"{target}: no such folder or file"

    def accept(self) -> None:
        """OK: open the selected file, choose the folder, or save under the typed name."""
        if self.picking_folder:
            entry = self._entry(self.selected)
            self._answer(self.folder / entry.name if entry is not None else self.folder)
            return
        if not self.saving:
            entry = self._entry(self.selected)
            if entry is None:
                self.error = "select a file to open"
            elif entry.is_folder:
                self.go(self.folder / entry.name)
            else:
                self._answer(self.folder / entry.name)
            return
        name = self.file_name.strip()
        if not name:
            self.error = "type a file name"
            return
        target = self._resolve(name)
        if target.is_dir():
            self.go(target)
            self.file_name = ""
        elif not target.parent.is_dir():
            self.error = f"{target.parent}: no such folder"
        elif target.exists():
            self.confirm_overwrite = target
        else:
            self._answer(target)

    def confirm(self, replace: bool) -> None:
        """The answer to "replace the existing file?"."""
        target, self.confirm_overwrite = self.confirm_overwrite, None
        if replace and target is not None:
            self._answer(target)

    def cancel(self) -> None:
        self.done, self.result = True, None

    def _answer(self, path: Path) -> None:
        remember_folder(path if self.picking_folder else path.parent)
        self.done, self.result = True, str(path)

    def _entry(self, name: str | None) -> Entry | None:
        return next((e for e in self.visible() if e.name == name), None)


# --- drawing ---------------------------------------------------------------------------------------
def draw_file_browser(browser: FileBrowser, scale: float) -> None:
    """Draw ``browser`` as a modal window, once per frame at the top level of the UI."""
    popup = f"{browser.title}##file-browser-{id(browser)}"
    if not imgui.is_popup_open(popup):
        imgui.open_popup(popup)
    viewport = imgui.get_main_viewport()
    imgui.set_next_window_pos(viewport.get_center(), imgui.Cond_.appearing, imgui.ImVec2(0.5, 0.5))
    imgui.set_next_window_size(
        imgui.ImVec2(min(680 * scale, viewport.size.x * 0.95), min(460 * scale, viewport.size.y * 0.9)),
        imgui.Cond_.appearing,
    )
    opened, keep = imgui.begin_popup_modal(popup, True, imgui.WindowFlags_.no_saved_settings)
    if not opened:
        return
    first_frame = imgui.is_window_appearing()
    _keys(browser)
    if imgui.arrow_button("##up", imgui.Dir.up):
        browser.up()
    imgui.set_item_tooltip("Parent folder (Backspace)")
    imgui.same_line()
    imgui.set_next_item_width(-1)
    if imgui.is_key_chord_pressed(imgui.Key.mod_ctrl | imgui.Key.l):
        imgui.set_keyboard_focus_here()
    flags = imgui.InputTextFlags_.enter_returns_true | imgui.InputTextFlags_.auto_select_all
    entered, browser.location = imgui.input_text("##location", browser.location, flags)
    imgui.set_item_tooltip("Type a folder or file and press Enter (Ctrl+L)")
    if entered:
        browser.submit_location(browser.location)
    _options_row(browser, scale)
    if browser.error:
        imgui.text_colored(ERROR, browser.error)
    footer = imgui.get_frame_height_with_spacing() * (2 if browser.saving else 1) + imgui.get_style().item_spacing.y
    _listing(browser, imgui.ImVec2(0, -footer))
    if browser.saving:
        imgui.align_text_to_frame_padding()
        imgui.text("File name")
        imgui.same_line()
        imgui.set_next_item_width(-1)
        if first_frame:
            imgui.set_keyboard_focus_here()
        entered, browser.file_name = imgui.input_text(
            "##file-name", browser.file_name, imgui.InputTextFlags_.enter_returns_true
        )
        if entered:
            browser.accept()
    _buttons(browser)
    if not keep:
        browser.cancel()
    if browser.done:
        imgui.close_current_popup()
    imgui.end_popup()


def _keys(browser: FileBrowser) -> None:
    """Escape cancels (or backs out of the overwrite question); the rest only outside text fields."""
    if imgui.is_key_pressed(imgui.Key.escape, False):
        if browser.confirm_overwrite is not None:
            browser.confirm(False)
        else:
            browser.cancel()
        return
    if imgui.get_io().want_text_input:
        return
    enter = imgui.is_key_pressed(imgui.Key.enter, False) or imgui.is_key_pressed(imgui.Key.keypad_enter, False)
    if browser.confirm_overwrite is not None:
        if enter:
            browser.confirm(True)
    elif enter:
        browser.activate()
    elif imgui.is_key_pressed(imgui.Key.backspace):
        browser.up()
    elif imgui.is_key_pressed(imgui.Key.down_arrow):
        browser.move_selection(1)
    elif imgui.is_key_pressed(imgui.Key.up_arrow):
        browser.move_selection(-1)


def _options_row(browser: FileBrowser, scale: float) -> None:
    imgui.set_next_item_width(180 * scale)
    if imgui.begin_combo("##recent", "Recent folders", imgui.ComboFlags_.height_large):
        for folder in RECENT_FOLDERS:
            if imgui.selectable(str(folder), folder == browser.folder)[0]:
                browser.go(folder)
        if not RECENT_FOLDERS:
            imgui.text_colored(MUTED, "none yet")
        imgui.end_combo()
    imgui.same_line()
    changed, show = imgui.checkbox("Hidden files", browser.show_hidden)
    if changed:
        browser.set_show_hidden(show)
    if browser.picking_folder:
        return
    imgui.same_line()
    imgui.set_next_item_width(-1)
    current = browser.filter
    if imgui.begin_combo("##filter", f"{current.name} ({' '.join(current.patterns)})"):
        for index, item in enumerate(browser.filters):
            if imgui.selectable(f"{item.name} ({' '.join(item.patterns)})", index == browser.filter_index)[0]:
                browser.set_filter(index)
        imgui.end_combo()


def _listing(browser: FileBrowser, size: imgui.ImVec2) -> None:
    imgui.begin_child("##entries", size, imgui.ChildFlags_.borders)
    entries = browser.visible()
    for entry in entries:
        text = f"{entry.name}/" if entry.is_folder else entry.name
        selected = entry.name == browser.selected
        if imgui.selectable(f"{text}##{entry.name}", selected, imgui.SelectableFlags_.allow_double_click)[0]:
            browser.select(entry.name)
            if imgui.is_mouse_double_clicked(imgui.MouseButton_.left):
                browser.activate(entry.name)
        if selected and browser.reveal_selection:
            imgui.set_scroll_here_y()
            browser.reveal_selection = False
    if not entries and not browser.error:
        imgui.text_colored(MUTED, "no sub-folders" if browser.picking_folder else "nothing here matches the filter")
    imgui.end_child()


def _buttons(browser: FileBrowser) -> None:
    """OK/Cancel on the right; while a save would replace a file, the question and Replace/Back instead."""
    style = imgui.get_style()
    width = imgui.calc_text_size("Replace").x + style.frame_padding.x * 4
    right = imgui.get_cursor_pos_x() + imgui.get_content_region_avail().x - 2 * width - style.item_spacing.x
    if browser.confirm_overwrite is not None:
        imgui.align_text_to_frame_padding()
        imgui.text_colored(ERROR, f"{browser.confirm_overwrite.name} exists. Replace it?")
        imgui.same_line(right)
        if imgui.button("Replace", imgui.ImVec2(width, 0)):
            browser.confirm(True)
        imgui.same_line()
        if imgui.button("Back", imgui.ImVec2(width, 0)):
            browser.confirm(False)
        return
    imgui.set_cursor_pos_x(right)
    ok = "Save" if browser.saving else "Choose" if browser.picking_folder else "Open"
    if imgui.button(ok, imgui.ImVec2(width, 0)):
        browser.accept()
    imgui.same_line()
    if imgui.button("Cancel", imgui.ImVec2(width, 0)):
        browser.cancel()
