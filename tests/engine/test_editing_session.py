import json

import numpy as np
import pytest
import torch

from panohead.checkpoint import save_generator
from panohead.editing import (
    Camera,
    Direction,
    EditState,
    Keyframe,
    Latent,
    Mixing,
    ModelReference,
    PathSettings,
    Session,
    SessionError,
    open_session,
    read_session,
    recent_sessions,
    render_state,
    save_session,
)


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def checkpoint(tmp_path, tiny_generator):
    path = tmp_path / "model.safetensors"
    save_generator(path, tiny_generator)
    return path


def edited_state():
    """Every kind of edit, including explicit ws (an inverted photo) and a direction."""
    rng = np.random.default_rng(0)
    photo = Latent.from_ws(rng.standard_normal((6, 32)).astype(np.float32), name="portrait.jpg")
    direction = Direction.of("PC1", rng.standard_normal(32) / 6, scale=1.7, explained=0.21)
    return EditState(
        latent=photo,
        psi=0.83,
        cutoff=4,
        conditioning=(5.0, -3.0),
        mixing=Mixing(Latent.from_seed(11), (1, 3), (0, 2)),
        background=Latent.from_seed(12),
        camera=Camera(yaw=123.4, pitch=-7.5, radius=2.9, fov=20.0, look_at=(0.0, 0.05, 0.2)),
    ).with_direction(direction, -1.3, layers=(0, 4))


def session_for(generator, checkpoint):
    return Session(
        model=ModelReference.of(generator, checkpoint),
        state=edited_state(),
        keyframes=(Keyframe(EditState(latent=Latent.from_seed(3)), "start"), Keyframe(edited_state(), "end")),
        path=PathSettings(frames_per_segment=12, yaw_mode="turns", turns=2, loop=True),
        directions=(Direction.of("smile", np.ones(32) / np.sqrt(32)),),
        view={"mode": "depth", "backdrop": "checkerboard"},
    )


def test_a_saved_session_reopens_to_a_bit_identical_render(tmp_path, tiny_generator, checkpoint):
    session = session_for(tiny_generator, checkpoint)
    path = tmp_path / "head.session.json"
    save_session(path, session)
    reopened, generator = open_session(path)
    assert reopened == session
    assert torch.equal(
        render_state(generator, reopened.state)["image"], render_state(tiny_generator, session.state)["image"]
    )


def test_session_files_are_small(tmp_path, tiny_generator, checkpoint):
    save_session(tmp_path / "head.json", session_for(tiny_generator, checkpoint))
    assert (tmp_path / "head.json").stat().st_size < 10_000


def test_a_session_naming_a_missing_checkpoint_says_so_in_one_line(tmp_path, tiny_generator, checkpoint):
    path = tmp_path / "head.json"
    save_session(path, session_for(tiny_generator, checkpoint))
    checkpoint.unlink()
    with pytest.raises(SessionError) as excinfo:
        open_session(path)
    assert str(excinfo.value) == f"{path}: its checkpoint {checkpoint} is missing (moved or deleted?)"


def test_a_session_whose_checkpoint_changed_is_refused(tmp_path, tiny_generator, checkpoint):
    path = tmp_path / "head.json"
    save_session(path, session_for(tiny_generator, checkpoint))
    with torch.no_grad():
        tiny_generator.decoder.out.bias.add_(1.0)
    save_generator(checkpoint, tiny_generator)
    with pytest.raises(
        SessionError, match=r"head.json: checkpoint .*model.safetensors has changed since the session was saved"
    ):
        open_session(path)


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            '{"format": "panohead-studio-session", "version": 1, "model": ',
            "malformed session JSON (not valid JSON (Expecting value at line 1 column 62))",
        ),
        ("[1, 2]", 'not a PanoHead Studio session (no "format": "panohead-studio-session")'),
        (
            '{"format": "panohead-studio-session", "version": 7}',
            "session version 7 is not supported (this version reads 1)",
        ),
    ],
)
def test_malformed_session_files_give_one_line_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(SessionError) as excinfo:
        read_session(path)
    assert str(excinfo.value) == f"{path}: {problem}"


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda d: d["state"].pop("psi"), "state.psi is missing"),
        (lambda d: d["state"].update(psi="high"), 'state.psi must be a number, got "high"'),
        (lambda d: d["state"].update(cutoff=2.5), "state.cutoff must be a whole number, got 2.5"),
        (lambda d: d["state"]["mixing"].update(layers=[1]), "state.mixing.layers must be two whole numbers, got [1]"),
        (
            lambda d: d["state"]["latent"]["ws"].update(float32="AAAA"),
            "state.latent.ws: array of shape [6, 32] needs 768 bytes, got 3",
        ),
        (
            lambda d: d["keyframes"][0]["state"].update(latent={"name": "x"}),
            "keyframes[0].state.latent needs a 'seed', 'z' or 'ws'",
        ),
        (lambda d: d["path"].update(fps=0), "session.path: fps must be within 1..120, got 0"),
    ],
)
def test_session_fields_with_wrong_content_are_named(tmp_path, tiny_generator, checkpoint, change, problem):
    path = tmp_path / "head.json"
    save_session(path, session_for(tiny_generator, checkpoint))
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    with pytest.raises(SessionError) as excinfo:
        read_session(path)
    assert str(excinfo.value) == f"{path}: {problem}"


def test_missing_session_file_is_named(tmp_path):
    with pytest.raises(SessionError, match=r"nothing.json: session file not found"):
        read_session(tmp_path / "nothing.json")


def test_recent_sessions_lists_saved_and_opened_files_newest_first(tmp_path, tiny_generator, checkpoint):
    for name in ("a.json", "b.json", "c.json"):
        save_session(tmp_path / name, session_for(tiny_generator, checkpoint))
    open_session(tmp_path / "a.json")
    (tmp_path / "b.json").unlink()
    assert recent_sessions() == [tmp_path / "a.json", tmp_path / "c.json"]


def test_a_session_of_an_untrained_preset_reopens_without_a_checkpoint_file(tmp_path):
    from panohead.model_source import ModelSource

    generator = ModelSource.parse("random:tiny").open()
    state = EditState(latent=Latent.from_seed(2), camera=Camera(yaw=30.0))
    path = tmp_path / "sketch.json"
    save_session(path, Session(ModelReference.of(generator, "random:tiny"), state))
    reopened, loaded = open_session(path)
    assert reopened.model.source == "random:tiny"
    assert torch.equal(render_state(loaded, state)["image"], render_state(generator, state)["image"])


def test_float32_values_are_saved_as_typed_and_render_the_same(tmp_path, tiny_generator, checkpoint):
    psi = float(np.float32(0.7))  # what a slider hands back: 0.699999988079071
    session = Session(
        model=ModelReference.of(tiny_generator, checkpoint),
        state=EditState(latent=Latent.from_seed(3), psi=psi, camera=Camera(yaw=123.456789012345)),
    )
    save_session(tmp_path / "head.json", session)
    text = (tmp_path / "head.json").read_text()
    assert '"psi": 0.7,' in text and "0.6999" not in text
    assert '"yaw": 123.456789012345' in text  # a float64 value keeps every digit
    reopened, generator = open_session(tmp_path / "head.json")
    assert torch.equal(
        render_state(generator, reopened.state)["image"], render_state(tiny_generator, session.state)["image"]
    )
