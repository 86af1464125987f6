"""panohead.model_source.ModelSource: the one way a model is named, parsed and opened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from panohead.bundled import BUNDLED_CHECKPOINT
from panohead.checkpoint import CheckpointError, model_fingerprint, save_generator
from panohead.model_source import ModelSource
from tests.conftest import make_tiny_generator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ["bundled", "random:tiny", "models/head.safetensors", "/tmp/official.pkl"])
def test_the_text_of_a_source_parses_back_to_the_same_source(text):
    assert str(ModelSource.parse(text)) == text
    assert ModelSource.parse(str(ModelSource.parse(text))) == ModelSource.parse(text)


def test_no_source_is_the_bundled_model_and_only_files_have_a_path():
    assert ModelSource.parse(None) == ModelSource.parse("bundled") == ModelSource("bundled")
    assert ModelSource.parse("random:tiny").path is None and ModelSource.parse("bundled").path is None
    assert ModelSource.parse(Path("a/b.pkl")).path == Path("a/b.pkl")


def test_descriptions_name_the_model_the_way_the_ui_shows_it():
    assert ModelSource.parse("bundled").describe() == "bundled model"  # this checkout ships the checkpoint
    assert ModelSource.parse("random:tiny").describe() == "untrained 'tiny' model"
    assert ModelSource.parse("/data/heads.safetensors").describe() == "heads.safetensors"
    assert ModelSource.parse("random:tiny").training_data() == "untrained"
    assert ModelSource.parse("bundled").training_data() == "synthetic"
    assert ModelSource.parse("/nowhere/heads.safetensors").training_data() is None  # unreadable: not recorded


def test_a_random_preset_opens_to_the_same_weights_every_time_and_leaves_the_rng_alone():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    first, second = ModelSource.parse("random:tiny").open(), ModelSource.parse("random:tiny").open()
    assert torch.equal(torch.rand(3), before)
    assert model_fingerprint(first) == model_fingerprint(second)
    assert not first.training and not any(p.requires_grad for p in first.parameters())


def test_the_bundled_source_opens_the_bundled_checkpoint():
    from panohead.checkpoint import load_generator

    opened = ModelSource.parse("bundled").open()
    assert model_fingerprint(opened) == model_fingerprint(load_generator(BUNDLED_CHECKPOINT))


def test_a_file_source_opens_our_checkpoint(tmp_path):
    generator = make_tiny_generator()
    save_generator(tmp_path / "tiny.safetensors", generator)
    assert model_fingerprint(ModelSource.parse(tmp_path / "tiny.safetensors").open()) == model_fingerprint(generator)


@pytest.mark.parametrize(
    "text,message",
    [
        ("random:huge", r"^random:huge: unknown preset; choose one of paper, .*tiny"),
        ("{tmp}/notes.txt", r"notes\.txt: not a checkpoint \(expected \.safetensors or \.pkl\)$"),
        ("{tmp}/missing.safetensors", r"missing\.safetensors: checkpoint file not found$"),
        ("{tmp}/missing.pkl", r"missing\.pkl: checkpoint file not found$"),
    ],
)
def test_a_bad_source_is_one_line_naming_it_and_the_fix(tmp_path, text, message):
    (tmp_path / "notes.txt").write_text("hello")
    source = ModelSource.parse(text.format(tmp=tmp_path))
    with pytest.raises(ValueError, match=message) as caught:
        source.open()
    assert "\n" not in str(caught.value)
    if source.kind == "file":
        assert isinstance(caught.value, CheckpointError)


def test_the_cli_takes_the_same_sources_as_the_viewer(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "panohead.cli",
            "generate",
            "-c",
            "random:tiny",
            "--seeds",
            "3",
            "--yaws",
            "0",
            "--device",
            "cpu",
        ]
        + ["-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "model: random:tiny" in result.stdout and len(list(tmp_path.rglob("*.png"))) == 1
