import pytest
import torch

from panohead.checkpoint import CheckpointError, load_generator, save_generator, save_tensors, training_data
from panohead.views.camera import orbit_camera
from tests.conftest import make_tiny_generator


def render(generator, seed=0):
    torch.manual_seed(seed)
    z = torch.randn(1, generator.config.z_dim)
    with torch.no_grad():
        return generator(z, orbit_camera(0.0))["image"]


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    generator = make_tiny_generator(grid_depth=3)
    path = tmp_path / "model.safetensors"
    save_generator(path, generator)
    loaded = load_generator(path)
    assert loaded.config == generator.config
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.equal(render(generator), render(loaded))


def test_half_precision_checkpoint_loads_as_float32(tmp_path):
    generator = make_tiny_generator()
    path = tmp_path / "half.safetensors"
    save_generator(path, generator, dtype=torch.float16)
    loaded = load_generator(path)
    assert all(t.dtype == torch.float32 for t in loaded.state_dict().values() if t.is_floating_point())
    assert (render(generator) - render(loaded)).abs().max() < 0.05


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_corrupted_checkpoint_gives_one_clear_line(tmp_path):
    path = tmp_path / "model.safetensors"
    save_generator(path, make_tiny_generator())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as excinfo:
        load_generator(path)
    assert str(path) in one_line_error(excinfo) and "corrupt" in str(excinfo.value)


def test_truncated_checkpoint_gives_one_clear_line(tmp_path):
    path = tmp_path / "model.safetensors"
    save_generator(path, make_tiny_generator())
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as excinfo:
        load_generator(path)
    assert "truncated or corrupt" in one_line_error(excinfo)


def test_wrong_kind_and_foreign_files_are_named(tmp_path):
    other = tmp_path / "other.safetensors"
    save_tensors(other, {"x": torch.zeros(2)}, "latent", {})
    with pytest.raises(CheckpointError, match="holds a 'latent'"):
        load_generator(other)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.safetensors"):
        load_generator(text)
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "missing.safetensors")


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    generator = make_tiny_generator()
    save_generator(path, generator)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("panohead.checkpoint.save_safetensors", explode)
    with pytest.raises(RuntimeError):
        save_generator(path, generator)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_training_data_comes_from_the_training_record_not_the_file_name(tmp_path):
    from panohead.bundled import BUNDLED_CHECKPOINT

    assert training_data(BUNDLED_CHECKPOINT) == "synthetic"  # trained on our synthetic heads (checkpoints/README.md)
    generator = make_tiny_generator()
    save_generator(tmp_path / "panohead_small.safetensors", generator)  # the bundled name, no record
    save_generator(tmp_path / "heads.safetensors", generator, extra={"training_data": "photos"})
    save_generator(tmp_path / "converted.safetensors", generator, extra={"converted_from": "network-snapshot.pkl"})
    assert training_data(tmp_path / "panohead_small.safetensors") is None
    assert training_data(tmp_path / "heads.safetensors") == "photos"
    assert training_data(tmp_path / "converted.safetensors") == "photos"  # an official release, converted
    assert training_data(tmp_path / "released.pkl") == "photos"  # official pickles: decided without opening them
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(CheckpointError, match="broken.safetensors: not a readable PanoHead Studio checkpoint"):
        training_data(tmp_path / "broken.safetensors")
