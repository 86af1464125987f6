"""Opening an official pickle never runs code from it; bad files fail with one clear line."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from official_pickles import EG3D_TINY, random_generator, snapshot_bytes

from panohead.cli import main
from panohead.official import OfficialCheckpointError, load_official_generator
from panohead.official.unpickler import restricted_load


class CallOnLoad:
    """Pickles as ``function(*args)``: a file that runs ``function`` when opened by plain pickle."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.fixture(scope="module")
def small_generator():
    return random_generator(EG3D_TINY, seed=3)


def refusal(path) -> str:
    with pytest.raises(OfficialCheckpointError) as caught:
        load_official_generator(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def attack(name: str, sentinel) -> bytes:
    """A pickle that, opened with plain ``pickle.load``, creates ``sentinel`` through ``name``."""
    if name == "os.system":  # the classic hand-written form: GLOBAL 'os system', then REDUCE
        return b"cos\nsystem\n(V" + f"touch {sentinel}".encode() + b"\ntR."
    call = {
        "posix.system": CallOnLoad(os.system, f"touch {sentinel}"),  # what pickle.dumps names os.system
        "builtins.eval": CallOnLoad(builtins.eval, f"open({str(sentinel)!r}, 'w')"),
        "subprocess.Popen": CallOnLoad(subprocess.Popen, ["touch", str(sentinel)]),
    }[name]
    return pickle.dumps({"G_ema": call})


@pytest.mark.parametrize("name", ["os.system", "posix.system", "builtins.eval", "subprocess.Popen"])
def test_a_pickle_calling_a_dangerous_function_is_refused_and_nothing_runs(name, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(attack(name, sentinel))
    assert f"refused to load: the pickle calls {name}," in refusal(path)
    assert not sentinel.exists()


def test_a_dangerous_call_hidden_inside_a_valid_snapshot_is_refused(tmp_path, small_generator):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "network-snapshot.pkl"
    payload = CallOnLoad(subprocess.Popen, ["touch", str(sentinel)])
    path.write_bytes(snapshot_bytes(small_generator, edit=lambda g: g.state["rendering_kwargs"].update(note=payload)))
    assert "refused to load: the pickle calls subprocess.Popen" in refusal(path)
    assert not sentinel.exists()


def test_a_pickle_importing_an_arbitrary_module_is_refused_before_the_import(tmp_path, monkeypatch):
    sentinel = tmp_path / "imported"
    (tmp_path / "sneaky_module.py").write_text(f"open({str(sentinel)!r}, 'w').write('imported')\nvalue = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "import.pkl"
    path.write_bytes(b"\x80\x02csneaky_module\nvalue\n.")
    assert "refused to load: the pickle calls sneaky_module.value" in refusal(path)
    assert not sentinel.exists() and "sneaky_module" not in sys.modules


def test_embedded_module_source_is_kept_as_text_and_never_executed(tmp_path, small_generator):
    sentinel = tmp_path / "executed"
    source = f"open({str(sentinel)!r}, 'w').write('ran')\nclass TriPlaneGenerator:\n    pass\n"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(snapshot_bytes(small_generator, module_src=source))
    G = load_official_generator(path)
    assert G.config.plane_layout == "eg3d"
    assert not sentinel.exists()


def test_a_tensor_storage_smuggling_a_pickle_call_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    smuggled = pickle.dumps(CallOnLoad(os.system, f"touch {sentinel}"), protocol=2)
    payload = CallOnLoad(torch.storage._load_from_bytes, smuggled)
    path = tmp_path / "storage.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload}))
    assert "not a readable official snapshot pickle" in refusal(path)
    assert not sentinel.exists()


def test_a_truncated_snapshot_reports_truncation(tmp_path, small_generator):
    data = snapshot_bytes(small_generator, with_training_copy=False)
    path = tmp_path / "truncated.pkl"
    path.write_bytes(data[: len(data) // 2])
    assert refusal(path).endswith("not a readable official snapshot pickle (the file is truncated)")


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(64), b"definitely not a pickle\n", b""])
def test_a_file_that_is_not_a_pickle_gives_one_line(tmp_path, content):
    path = tmp_path / "weights.pkl"
    path.write_bytes(content)
    assert "not a readable official snapshot pickle" in refusal(path)


def test_a_pickle_of_the_wrong_structure_names_what_it_holds(tmp_path):
    listing = tmp_path / "list.pkl"
    listing.write_bytes(pickle.dumps([1, 2, 3]))
    assert refusal(listing).endswith("holds a list, not an official snapshot dict")
    no_network = tmp_path / "dict.pkl"
    no_network.write_bytes(pickle.dumps({"G": None, "D": None}))
    assert refusal(no_network).endswith("has no 'G_ema' network (found: no networks)")


def test_a_missing_file_is_reported(tmp_path):
    assert refusal(tmp_path / "absent.pkl").endswith("checkpoint file not found")


def test_convert_prints_one_error_line_and_exits_nonzero_for_a_malicious_file(tmp_path):
    sentinel = tmp_path / "pwned"
    source, target = tmp_path / "evil.pkl", tmp_path / "out.safetensors"
    source.write_bytes(attack("os.system", sentinel))
    result = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "os.system" in lines[0]
    assert not sentinel.exists() and not target.exists()


def test_convert_prints_one_error_line_for_a_truncated_file(tmp_path, small_generator):
    source = tmp_path / "cut.pkl"
    source.write_bytes(snapshot_bytes(small_generator)[:1000])
    result = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "out.safetensors")])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: {source}: not a readable official snapshot pickle (the file is truncated)"
    ]


def test_restricted_reader_reads_plain_data_without_records():
    data = {"a": [1, 2.5, "x"], "b": (None, True), "c": {1, 2}, "t": torch.arange(4.0)}
    loaded = restricted_load(io.BytesIO(pickle.dumps(data)))
    assert loaded["a"] == [1, 2.5, "x"] and loaded["c"] == {1, 2} and torch.equal(loaded["t"], torch.arange(4.0))
