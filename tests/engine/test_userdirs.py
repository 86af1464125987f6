"""File hygiene: what the CLI and the viewer write by default lands in the user's folders, never in the
folder they were started from (often this source tree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.userdirs import OUTPUT_ENV, output_root, resolve_output
from viz.output_paths import output_folder, unique_path


@pytest.fixture
def started_in(tmp_path, monkeypatch) -> Path:
    """An empty current folder, standing for the source tree a user runs the app from."""
    folder = tmp_path / "started-here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_default_output_folder_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(OUTPUT_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert output_root() == tmp_path / "panohead-studio"


def test_cli_without_an_output_folder_writes_under_the_user_output_folder(tiny_generator, started_in, tmp_path):
    save_generator(tmp_path / "tiny.safetensors", tiny_generator)
    result = CliRunner().invoke(
        main, ["generate", "-c", str(tmp_path / "tiny.safetensors"), "--seeds", "0", "--yaws", "0", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert (output_root() / "out" / "grid.png").is_file()
    assert list(started_in.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["video", "--seeds", "5-2"], ["mesh", "-c", "missing.safetensors"], ["invert", "missing.jpg"]]
)
def test_a_failed_command_leaves_no_folder_where_it_was_started(started_in, args):
    result = CliRunner().invoke(main, [*args, "--device", "cpu"])
    assert result.exit_code != 0
    assert list(started_in.iterdir()) == []


def test_relative_capture_folders_live_under_the_user_output_folder(started_in, tmp_path):
    assert resolve_output("captures") == output_root() / "captures"
    assert resolve_output(tmp_path / "mine") == tmp_path / "mine"
    assert output_folder("captures").is_dir() and list(started_in.iterdir()) == []


def test_a_unique_name_also_leaves_the_files_written_beside_it_alone(tmp_path):
    """Splats with a background are NAME.ply plus NAME_background.ply: neither may overwrite a file."""
    (tmp_path / "splat.ply").write_bytes(b"")
    (tmp_path / "splat_2_background.ply").write_bytes(b"")
    assert unique_path(tmp_path, "splat", ".ply") == tmp_path / "splat_2.ply"
    assert unique_path(tmp_path, "splat", ".ply", ("_background.ply",)) == tmp_path / "splat_3.ply"
