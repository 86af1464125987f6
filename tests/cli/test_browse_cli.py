from dataclasses import astuple

import numpy as np
from click.testing import CliRunner

from panohead.browser import ranked, read_table
from panohead.checkpoint import save_generator
from panohead.cli import main


def test_cli_writes_ranked_tables_and_a_contact_sheet(tmp_path, tiny_generator):
    checkpoint = tmp_path / "tiny.safetensors"
    save_generator(checkpoint, tiny_generator)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["browse", "-c", str(checkpoint), "--seeds", "0-3", "--sort", "consistency", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    scores, flagged = read_table(out / "browse.csv")
    assert [s.seed for s in scores] == [s.seed for s in ranked(scores, "consistency")]
    assert len(scores) == 4 and len(flagged) >= 1
    json_scores, json_flagged = read_table(out / "browse.json")
    np.testing.assert_equal([astuple(s) for s in json_scores], [astuple(s) for s in scores])  # NaN == NaN here
    assert json_flagged == flagged
    assert (out / "contact_sheet.png").stat().st_size > 0
