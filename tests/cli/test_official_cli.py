"""``panohead convert`` turns an official pickle into our checkpoint and says what it converted."""

from __future__ import annotations

from click.testing import CliRunner
from official_pickles import PANOHEAD_TINY, random_generator, snapshot_bytes

from panohead.checkpoint import load_generator
from panohead.cli import main


def test_convert_writes_a_loadable_checkpoint_and_prints_a_summary_line(tmp_path):
    source, target = tmp_path / "network-snapshot-000400.pkl", tmp_path / "panohead.safetensors"
    source.write_bytes(snapshot_bytes(random_generator(PANOHEAD_TINY), with_training_copy=False))
    result = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert result.exit_code == 0, result.output
    summary, wrote = result.output.strip().splitlines()
    assert summary.startswith("PanoHead tri-grid (D=2), 32x32 image (neural 16, planes 16), with background, ")
    assert summary.endswith(" M generator parameters, no D")
    assert wrote == f"wrote {target}"
    assert load_generator(target).config == PANOHEAD_TINY


def test_convert_refuses_a_target_that_is_not_safetensors(tmp_path):
    source = tmp_path / "in.pkl"
    source.write_bytes(snapshot_bytes(random_generator(PANOHEAD_TINY), with_training_copy=False))
    result = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "out.pkl")])
    assert result.exit_code != 0
    assert result.output.strip() == f"Error: {tmp_path / 'out.pkl'}: the converted checkpoint must end in .safetensors"
