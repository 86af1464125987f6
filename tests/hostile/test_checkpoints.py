"""Hostile and broken .safetensors checkpoints: header first, config checked, checksum over everything."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from hostile_cli import assert_no_stray_files, assert_refused
from safetensors.torch import save as save_safetensors

from panohead.checkpoint import _digest, load_generator, read_header, save_generator
from panohead.config import preset
from panohead.generator import PanoHeadGenerator


@pytest.fixture(scope="module")
def tiny():
    return PanoHeadGenerator(preset("tiny")).eval()


def version_one(generator, config: str | None = None) -> bytes:
    """A file as the previous version wrote it (checksum over the tensors only), optionally with another config."""
    state = {name: tensor.contiguous() for name, tensor in generator.state_dict().items()}
    metadata = {
        "config": config or generator.config.to_json(),
        "format": "panohead-studio",
        "version": "1",
        "kind": "generator",
        "sha256": _digest(state),
    }
    return save_safetensors(state, metadata=metadata)


def version_two(generator, config: str) -> bytes:
    """A current-version file whose config was replaced and whose checksum was recomputed to match."""
    state = {name: tensor.contiguous() for name, tensor in generator.state_dict().items()}
    metadata = {"config": config, "format": "panohead-studio", "version": "2", "kind": "generator"}
    metadata["sha256"] = _digest(state, metadata)
    return save_safetensors(state, metadata=metadata)


def raw(header: dict | str, body: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    return struct.pack("<Q", len(text)) + text.encode() + body


def edited_config(generator, **changes) -> str:
    values = json.loads(generator.config.to_json())
    values.update(changes)
    return json.dumps(values)


def test_hostile_checkpoints_are_refused_with_one_line_in_bounded_memory(cli, tmp_path, tiny):
    save_generator(tmp_path / "good.safetensors", tiny)
    good = (tmp_path / "good.safetensors").read_bytes()
    assert good.count(b'ray_start\\": 2.25') == 1
    huge = edited_config(tiny, plane_resolution=2048, channel_base=2**20, channel_max=4096)
    files = {
        "one_byte_config_edit.safetensors": good.replace(b'ray_start\\": 2.25', b'ray_start\\": 2.35'),
        "v1_ray_start_past_end.safetensors": version_one(tiny, edited_config(tiny, ray_start=9.25)),
        "v1_nan.safetensors": version_one(tiny, edited_config(tiny, ray_start=float("nan"))),
        "v1_wrong_type.safetensors": version_one(tiny, edited_config(tiny, z_dim="32")),
        "huge_architecture.safetensors": version_two(tiny, huge),
        "absurd_samples.safetensors": version_two(tiny, edited_config(tiny, samples_coarse=10**9)),
        "header_length_2_63.safetensors": struct.pack("<Q", 2**63) + b"{}",
        "deep_header.safetensors": raw("[" * 100_000 + "]" * 100_000),
        "escape_tensor_name.safetensors": raw(
            {
                "__metadata__": json.loads(
                    json.dumps(
                        {
                            "format": "panohead-studio",
                            "version": "2",
                            "kind": "generator",
                            "config": tiny.config.to_json(),
                            "sha256": "0",
                        }
                    )
                ),
                "\x1b[2Kevil\n": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            b"\0" * 4,
        ),
        "truncated.safetensors": good[:5000],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    # 8 GiB announced by a foreign safetensors header, the rest of the (sparse) file zeros: refused
    # from its header without reading the tensors.
    foreign = raw({"weights": {"dtype": "F32", "shape": [2**31], "data_offsets": [0, 2**33]}})
    with open(tmp_path / "eight_gib.safetensors", "wb") as handle:
        handle.write(foreign)
        handle.truncate(len(foreign) + 2**33)
    names = [*files, "eight_gib.safetensors"]
    results = cli(
        [["generate", "-c", tmp_path / name, "--seeds", "0", "--yaws", "0", "-o", tmp_path / "out"] for name in names]
    )
    lines = {name: assert_refused(result, tmp_path / name) for name, result in zip(names, results, strict=True)}
    assert "checksum mismatch" in lines["one_byte_config_edit.safetensors"]
    assert "ray_end must exceed ray_start" in lines["v1_ray_start_past_end.safetensors"]
    assert "NaN" in lines["v1_nan.safetensors"]
    assert "z_dim must be a whole number" in lines["v1_wrong_type.safetensors"]
    assert "tensors do not match the config" in lines["huge_architecture.safetensors"]
    assert "samples_coarse must be within 2..1024, got 1000000000" in lines["absurd_samples.safetensors"]
    assert "truncated or corrupt" in lines["header_length_2_63.safetensors"]
    assert "deeper than" in lines["deep_header.safetensors"]
    assert "\\x1b[2Kevil\\n" in lines["escape_tensor_name.safetensors"]
    assert "without PanoHead Studio metadata" in lines["eight_gib.safetensors"]
    assert_no_stray_files(tmp_path / "out", set())


def test_the_checksum_covers_the_config(tmp_path, tiny):
    save_generator(tmp_path / "model.safetensors", tiny)
    metadata, _ = read_header(tmp_path / "model.safetensors", "generator")
    assert metadata["version"] == "2" and metadata["sha256"] == _digest(tiny.state_dict(), metadata)
    loaded = load_generator(tmp_path / "model.safetensors")
    assert loaded.config == tiny.config


def test_files_of_the_previous_version_still_load(tmp_path, tiny):
    (tmp_path / "v1.safetensors").write_bytes(version_one(tiny))
    loaded = load_generator(tmp_path / "v1.safetensors")
    assert all(loaded.state_dict()[k].equal(v) for k, v in tiny.state_dict().items())


def test_the_bundled_checkpoint_still_loads():
    from panohead.bundled import BUNDLED_CHECKPOINT

    assert load_generator(BUNDLED_CHECKPOINT).config.image_resolution == 128


def test_a_training_snapshot_announcing_a_huge_discriminator_is_refused_before_building_it(cli, tmp_path, tiny):
    from panohead.checkpoint import save_tensors
    from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator

    small = TriDiscriminator(DiscriminatorConfig(resolution=32, channel_base=256, channel_max=32, mapping_layers=2))
    huge = DiscriminatorConfig(resolution=4096, channel_base=2**20, channel_max=4096)
    tensors = {
        **{f"G_ema.{k}": v for k, v in tiny.state_dict().items()},
        **{f"D.{k}": v for k, v in small.state_dict().items()},
    }
    save_tensors(
        tmp_path / "snapshot.safetensors",
        tensors,
        "snapshot",
        {"config": tiny.config.to_json(), "d_config": huge.to_json()},
    )
    [result] = cli([["train", "export", tmp_path / "snapshot.safetensors", tmp_path / "out.safetensors"]])
    assert "tensors do not match the config" in assert_refused(result, tmp_path / "snapshot.safetensors")
    assert_no_stray_files(tmp_path, {"snapshot.safetensors"})


def test_compact_snapshot_parts_that_name_each_other_as_head_are_refused(cli, tmp_path):
    from panohead.checkpoint import save_tensors
    from panohead.training.compact import PART_KIND

    for name, other in (("a.safetensors", "b.safetensors"), ("b.safetensors", "a.safetensors")):
        save_tensors(tmp_path / name, {"x": torch.zeros(1)}, PART_KIND, {"head": other, "compact_id": "1"})
    save_tensors(tmp_path / "c.safetensors", {"x": torch.zeros(1)}, PART_KIND, {"head": "../../etc/passwd"})
    results = cli(
        [
            ["train", "export", tmp_path / name, tmp_path / "out.safetensors"]
            for name in ("a.safetensors", "c.safetensors")
        ]
    )
    assert "expected 'compact-snapshot'" in assert_refused(results[0], tmp_path / "b.safetensors")
    assert "not a file name in its folder" in assert_refused(results[1], tmp_path / "c.safetensors")
    assert_no_stray_files(tmp_path, {"a.safetensors", "b.safetensors", "c.safetensors"})


def test_compact_snapshot_with_codes_that_do_not_fit_their_blocks_is_refused(cli, tmp_path):
    from panohead.checkpoint import save_tensors
    from panohead.training.compact import HEAD_KIND

    tensors = {
        "G_ema.w": torch.zeros(300),
        "G.w@int8": torch.zeros(300, dtype=torch.int8),
        "G.w@scale": torch.ones(1, dtype=torch.bfloat16),  # 300 values need 2 blocks of 256
        "opt_G.0.exp_avg_sq@log8": torch.ones(3, dtype=torch.int8),  # not uint8
        "opt_G.0.exp_avg_sq@low": torch.zeros(1, dtype=torch.bfloat16),
        "opt_G.0.exp_avg_sq@step": torch.zeros(1, dtype=torch.bfloat16),
    }
    head = tmp_path / "compact-000000004-part1of1.safetensors"
    save_tensors(head, tensors, HEAD_KIND, {"compact_id": "1", "parts": "[]", "compact_format": "2"})
    save_tensors(
        tmp_path / "newer.safetensors", {}, HEAD_KIND, {"compact_id": "1", "parts": "[]", "compact_format": "9"}
    )
    results = cli(
        [["train", "export", path, tmp_path / "out.safetensors"] for path in (head, tmp_path / "newer.safetensors")]
    )
    assert "cannot be decoded" in assert_refused(results[0], head)
    assert "format '9' is newer" in assert_refused(results[1], tmp_path / "newer.safetensors")
    assert_no_stray_files(tmp_path, {head.name, "newer.safetensors"})
