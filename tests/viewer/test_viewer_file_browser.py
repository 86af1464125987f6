"""The in-app file browser's rules (viz.file_browser.FileBrowser), without a window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from viz import file_browser
from viz.file_browser import Entry, FileBrowser, parse_filters

IMAGES = ["Images", "*.png *.JPG", "All files", "*"]


@pytest.fixture(autouse=True)
def _no_recent_folders(monkeypatch):
    monkeypatch.setattr(file_browser, "RECENT_FOLDERS", [])


@pytest.fixture
def folder(tmp_path) -> Path:
    """b_dir/, A_dir/, .hidden_dir/, photo.PNG, z.jpg, a.png, notes.txt, .secret.png"""
    for name in ("b_dir", "A_dir", ".hidden_dir"):
        (tmp_path / name).mkdir()
    for name in ("photo.PNG", "z.jpg", "a.png", "notes.txt", ".secret.png"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def names(browser: FileBrowser) -> list[str]:
    return [e.name for e in browser.visible()]


def test_folders_come_first_then_matching_files_each_sorted_ignoring_case(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    assert names(browser) == ["A_dir", "b_dir", "a.png", "photo.PNG", "z.jpg"]
    assert browser.visible()[0] == Entry("A_dir", True)


def test_the_all_files_filter_and_the_hidden_toggle_show_the_rest(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.set_filter(1)
    assert names(browser) == ["A_dir", "b_dir", "a.png", "notes.txt", "photo.PNG", "z.jpg"]
    browser.set_show_hidden(True)
    assert names(browser) == [
        ".hidden_dir",
        "A_dir",
        "b_dir",
        ".secret.png",
        "a.png",
        "notes.txt",
        "photo.PNG",
        "z.jpg",
    ]


def test_filters_pair_names_with_patterns_and_an_empty_list_means_every_file():
    assert [(f.name, f.patterns) for f in parse_filters(IMAGES)] == [
        ("Images", ("*.png", "*.JPG")),
        ("All files", ("*",)),
    ]
    assert parse_filters([])[0].matches("anything.bin")


def test_a_filter_change_drops_a_selection_it_hides(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.set_filter(1)
    browser.select("notes.txt")
    browser.set_filter(0)
    assert browser.selected is None


def test_activating_a_folder_enters_it_and_up_returns(folder):
    (folder / "b_dir" / "inner.png").write_bytes(b"x")
    browser = FileBrowser("Open", IMAGES, folder)
    browser.activate("b_dir")
    assert browser.folder == folder / "b_dir" and names(browser) == ["inner.png"]
    assert browser.location == str(folder / "b_dir")
    assert browser.up() and browser.folder == folder


def test_activating_a_file_answers_with_its_path_and_remembers_its_folder(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.activate("z.jpg")
    assert browser.done and browser.result == str(folder / "z.jpg")
    assert file_browser.RECENT_FOLDERS == [folder]


def test_arrow_keys_move_the_selection_and_stop_at_the_ends(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.move_selection(1)
    assert browser.selected == "A_dir"
    for _ in range(10):
        browser.move_selection(1)
    assert browser.selected == "z.jpg"
    browser.move_selection(-1)
    assert browser.selected == "photo.PNG"


def test_ok_without_a_selection_is_a_one_line_error_and_not_an_answer(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.accept()
    assert not browser.done and browser.error == "select a file to open"


def test_the_location_field_opens_folders_picks_files_and_reports_missing_paths(folder):
    browser = FileBrowser("Open", IMAGES, folder / "A_dir")
    browser.submit_location("../b_dir")
    assert browser.folder == folder / "b_dir"
    browser.submit_location(str(folder / "nowhere"))
    assert browser.error == f"{folder / 'nowhere'}: no such folder or file" and browser.folder == folder / "b_dir"
    browser.submit_location(str(folder / "a.png"))
    assert browser.done and browser.result == str(folder / "a.png")


def test_an_unreadable_folder_is_one_line_and_the_browser_stays_put(folder, monkeypatch):
    locked = folder / "A_dir"
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    browser = FileBrowser("Open", IMAGES, folder)
    monkeypatch.setattr(file_browser.os, "scandir", scandir)
    browser.activate("A_dir")
    assert browser.folder == folder and browser.error == f"{locked}: cannot open this folder (permission denied)"
    assert not browser.go(folder / "a.png")
    assert browser.error == f"{folder / 'a.png'}: cannot open this folder (not a directory)"


def test_a_missing_start_folder_opens_its_nearest_existing_parent(folder):
    browser = FileBrowser("Open", IMAGES, folder / "not" / "made" / "yet")
    assert browser.folder == folder and browser.error is None


def test_saving_a_new_name_answers_with_the_path_in_the_current_folder(folder):
    browser = FileBrowser("Save", IMAGES, folder, save_name="view.png")
    assert browser.file_name == "view.png"
    browser.accept()
    assert browser.done and browser.result == str(folder / "view.png")


def test_saving_over_an_existing_file_asks_first_and_back_keeps_the_dialog_open(folder):
    browser = FileBrowser("Save", IMAGES, folder, save_name="a.png")
    browser.accept()
    assert not browser.done and browser.confirm_overwrite == folder / "a.png"
    browser.confirm(False)
    assert not browser.done and browser.confirm_overwrite is None
    browser.accept()
    browser.confirm(True)
    assert browser.done and browser.result == str(folder / "a.png")


def test_selecting_a_file_while_saving_copies_its_name_and_a_folder_name_enters_it(folder):
    browser = FileBrowser("Save", IMAGES, folder, save_name="")
    browser.select("z.jpg")
    assert browser.file_name == "z.jpg"
    browser.file_name = "b_dir"
    browser.accept()
    assert browser.folder == folder / "b_dir" and not browser.done
    browser.accept()
    assert browser.error == "type a file name"
    browser.file_name = "../new/out.png"
    browser.accept()
    assert browser.error == f"{folder / 'new'}: no such folder" and not browser.done


def test_cancel_answers_with_nothing(folder):
    browser = FileBrowser("Open", IMAGES, folder)
    browser.cancel()
    assert browser.done and browser.result is None


def test_a_folder_chooser_lists_only_folders_and_answers_with_the_selected_or_current_one(folder):
    browser = FileBrowser("Masks", [], folder, pick_folder=True)
    assert names(browser) == ["A_dir", "b_dir"]
    browser.select("b_dir")
    browser.accept()
    assert browser.result == str(folder / "b_dir")
    browser = FileBrowser("Masks", [], folder, pick_folder=True)
    browser.submit_location("a.png")
    assert browser.error == f"{folder / 'a.png'}: not a folder"
    browser.activate()
    assert browser.result == str(folder) and file_browser.RECENT_FOLDERS == [folder, folder / "b_dir"]
