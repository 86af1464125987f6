"""Hostile and broken official pickles: each refused with one line naming the file, in bounded memory.

Every case is built here, in bytes, from a small valid snapshot (tests/support/official_pickles.py) or by
hand from pickle opcodes; the cases run through ``panohead convert`` in one child process under a
memory limit (hostile_cli.run_cli), in an order that also shows a refused file cannot change what a
later load sees.
"""

from __future__ import annotations

import pickle
import struct

import pytest
from hostile_cli import assert_no_stray_files, assert_refused
from official_pickles import EG3D_TINY, PANOHEAD_TINY, random_generator, snapshot_bytes

PLACEHOLDER = "DEEP-NESTING-GOES-HERE"


@pytest.fixture(scope="module")
def generator():
    return random_generator(EG3D_TINY, seed=3)


def nested_list_opcodes(levels: int) -> bytes:
    """Opcodes leaving one list nested ``levels`` deep on the stack (pickle.dumps would recurse)."""
    return pickle.EMPTY_LIST * levels + pickle.APPEND * (levels - 1)


def with_deep_nesting(snapshot: bytes, levels: int) -> bytes:
    """``snapshot`` with the placeholder string replaced by a list nested ``levels`` deep."""
    text = PLACEHOLDER.encode()
    string = pickle.SHORT_BINUNICODE + bytes([len(text)]) + text
    assert snapshot.count(string) == 1
    return snapshot.replace(string, nested_list_opcodes(levels))


def memo_bomb() -> bytes:
    """Nine bytes that make the C unpickler allocate a memo array of 2**29 entries (8 GB of RAM)."""
    return b"\x80\x04K\x01" + pickle.LONG_BINPUT + struct.pack("<I", 2**29) + pickle.STOP


def poisoning_pickle() -> bytes:
    """Sets a class attribute on the allow-listed EasyDict (BUILD on the class), then gets refused."""
    return (
        b"\x80\x02cdnnlib.util\nEasyDict\n"
        + pickle.NONE
        + pickle.EMPTY_DICT
        + pickle.SHORT_BINUNICODE
        + b"\x05items"
        + pickle.NONE
        + pickle.SETITEM
        + pickle.TUPLE2
        + pickle.BUILD
        + b"cos\nsystem\n."
    )


def escape_code_pickle() -> bytes:
    """Names a global whose text clears the line and prints a fake success message."""
    fake = b"\x1b[2K\rwrote model.safetensors\nsystem"
    return (
        b"\x80\x04"
        + pickle.SHORT_BINUNICODE
        + b"\x02os"
        + pickle.SHORT_BINUNICODE
        + bytes([len(fake)])
        + fake
        + pickle.STACK_GLOBAL
        + pickle.STOP
    )


def storage_claiming_8_gib() -> bytes:
    """A tensor storage blob (legacy torch.save, as official pickles embed them) whose persistent id
    claims 2**31 - 1 float elements while 16 bytes follow: torch would allocate 8 GiB before reading."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(torch.FloatStorage(4), buffer, _use_new_zipfile_serialization=False)
    blob = buffer.getvalue().replace(b"cpuq\x03K\x04N", b"cpuq\x03J" + struct.pack("<i", 2**31 - 1) + b"N", 1)
    return (
        b"\x80\x03ctorch.storage\n_load_from_bytes\n"
        + pickle.BINBYTES
        + struct.pack("<I", len(blob))
        + blob
        + pickle.TUPLE1
        + pickle.REDUCE
        + pickle.STOP
    )


def cyclic_record(generator) -> bytes:
    """The EG3D decoder (an ordinary class, filled by BUILD) lists itself as its own sub-module."""

    def edit(g):
        decoder = g.state["_modules"]["decoder"]
        decoder.__dict__["_modules"]["loop"] = decoder

    return snapshot_bytes(generator, edit=edit)


def self_containing_list(generator) -> bytes:
    def edit(g):
        loop = []
        loop.append(loop)
        g.state["rendering_kwargs"]["loop"] = loop

    return snapshot_bytes(generator, edit=edit)


def huge_architecture() -> bytes:
    """A PanoHead generator record announcing 2048 planes and 4096 channels with its small tensors."""

    def edit(g):
        g.state["_init_kwargs"].update(channel_base=2**20, channel_max=4096)
        g.child("backbone").child("synthesis").state["img_resolution"] = 2048

    return snapshot_bytes(random_generator(PANOHEAD_TINY, seed=1), edit=edit, with_training_copy=False)


def malformed(generator, edit) -> bytes:
    return snapshot_bytes(generator, edit=edit, with_training_copy=False)


def test_hostile_pickles_are_refused_with_one_line_in_bounded_memory(cli, tmp_path, generator):
    files = {
        "memo_bomb.pkl": memo_bomb(),
        "storage_8gib.pkl": storage_claiming_8_gib(),
        "cycle_record.pkl": cyclic_record(generator),
        "cycle_list.pkl": self_containing_list(generator),
        "deep.pkl": with_deep_nesting(
            snapshot_bytes(generator, edit=lambda g: g.state["rendering_kwargs"].update(note=PLACEHOLDER)), 200_000
        ),
        "poison.pkl": poisoning_pickle(),
        "escape.pkl": escape_code_pickle(),
        "huge.pkl": huge_architecture(),
        "truncated.pkl": snapshot_bytes(generator)[:5000],
        "huge_length.pkl": b"\x80\x04" + pickle.BINBYTES8 + struct.pack("<Q", 2**62) + b"x" + pickle.STOP,
        "no_parameters.pkl": malformed(
            generator, lambda g: g.child("superresolution").child("block0").child("conv1").state.pop("_parameters")
        ),
        "parameters_list.pkl": malformed(
            generator, lambda g: g.child("backbone").child("mapping").state.update(_parameters=[1, 2])
        ),
        "rendering_not_dict.pkl": malformed(generator, lambda g: g.state.update(rendering_kwargs=[1, 2, 3])),
        "img_resolution_text.pkl": malformed(generator, lambda g: g.state.update(img_resolution="512")),
        "bare_list.pkl": pickle.dumps([1, 2, 3]),
        "empty.pkl": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "valid.pkl").write_bytes(snapshot_bytes(generator))
    names = list(files)
    cases = [["convert", tmp_path / name, tmp_path / f"{name}.safetensors"] for name in names]
    cases.append(["convert", tmp_path / "valid.pkl", tmp_path / "valid.safetensors"])  # after the poisoning
    results = cli(cases)
    lines = {name: assert_refused(result, tmp_path / name) for name, result in zip(names, results[:-1], strict=True)}
    assert "cycle" in lines["cycle_record.pkl"] and "cycle" in lines["cycle_list.pkl"]
    assert "deeper than" in lines["deep.pkl"]
    assert "claims 2147483647 elements" in lines["storage_8gib.pkl"]
    assert "refused to load: the pickle calls os.\\x1b[2K\\rwrote model.safetensors\\nsystem" in lines["escape.pkl"]
    assert "tensor" in lines["huge.pkl"] and "shape" in lines["huge.pkl"]
    assert "truncated" in lines["truncated.pkl"] and "truncated" in lines["huge_length.pkl"]
    assert "malformed official snapshot" in lines["no_parameters.pkl"]
    assert results[-1]["status"] == 0, results[-1]
    assert_no_stray_files(tmp_path, {*files, "valid.pkl", "valid.safetensors"})


def test_a_refused_pickle_cannot_change_what_the_next_load_sees(tmp_path, generator):
    from panohead.official import OfficialCheckpointError, load_official_snapshot

    (tmp_path / "poison.pkl").write_bytes(poisoning_pickle())
    (tmp_path / "valid.pkl").write_bytes(snapshot_bytes(generator))
    with pytest.raises(OfficialCheckpointError, match="the pickle sets the state of a type"):
        load_official_snapshot(tmp_path / "poison.pkl")
    assert load_official_snapshot(tmp_path / "valid.pkl").training_set_kwargs["path"] == "heads.zip"


def test_the_allow_list_is_rebuilt_for_every_load():
    from panohead.official.unpickler import allowed_globals

    first, second = allowed_globals(), allowed_globals()
    for name in first:
        if name.startswith(("builtins.", "collections.")):
            continue  # built-in types cannot be modified
        assert first[name] is not second[name], name


def test_messages_quoting_a_pickle_are_one_printable_line_in_the_api(tmp_path):
    from panohead.official import OfficialCheckpointError, load_official_generator

    (tmp_path / "escape.pkl").write_bytes(escape_code_pickle())
    with pytest.raises(OfficialCheckpointError) as caught:
        load_official_generator(tmp_path / "escape.pkl")
    message = str(caught.value)
    assert message.isprintable() and "\\x1b[2K" in message
