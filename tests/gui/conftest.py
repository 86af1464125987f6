"""The GUI suite's fixtures: one Xvfb for the whole session, a tiny model whose density is an opaque
vertical column, and the app opened on it (its window saved to test-artifacts/ when a test fails)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from export_models import tiny_column_generator
from PIL import Image

from gui_utils.xvfb import software_gl_environment, virtual_display
from panohead.checkpoint import save_generator

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
WINDOW = (880, 580)


@pytest.fixture(scope="session")
def display():
    """A private Xvfb; skips when Xvfb is missing (``make test`` installs it first with ``make system-deps``:
    a test never installs system packages)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed: run 'make system-deps'")
    with virtual_display(1280, 800) as name, software_gl_environment(name):
        yield name


@pytest.fixture(scope="module")
def column_checkpoint(tmp_path_factory) -> Path:
    """A tiny generator with an opaque column of density in the middle of the box."""
    path = tmp_path_factory.mktemp("models") / "tiny_column.safetensors"
    save_generator(path, tiny_column_generator())
    return path


@pytest.fixture
def app(display, column_checkpoint, tmp_path, monkeypatch, request):
    from viz.app import App

    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    failures_before = request.session.testsfailed
    application = App(checkpoint=str(column_checkpoint), device="cpu", size=WINDOW, vsync=False)
    application.set_state(capture={"folder": str(tmp_path / "captures")})
    yield application
    if request.session.testsfailed > failures_before and not application._closed:
        ARTIFACTS.mkdir(exist_ok=True)
        Image.fromarray(application.read_framebuffer()).save(ARTIFACTS / f"{request.node.name}.png")
    application.close()
