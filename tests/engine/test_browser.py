import math

import numpy as np
import pytest
import torch
from metrics_scenes import distinct_trigrid, mirrored_triplane

from panohead.browser import (
    YAWS,
    SeedScore,
    contact_sheet,
    filtered,
    ranked,
    read_table,
    scan_seeds,
    worst,
    write_table,
)
from panohead.browser.sheet import FLAG_RGB
from panohead.metrics.consistency import multiview_consistency
from panohead.metrics.mirror import mirrored_face_scores

NAN = float("nan")


def scores_of(generator, seeds, **options):
    return [head for batch in scan_seeds(generator, seeds, **options) for head in batch]


def test_head_built_to_mirror_scores_worse_than_a_distinct_one():
    mirrored = scores_of(mirrored_triplane(), [0])[0].score
    distinct = scores_of(distinct_trigrid(), [0])[0].score
    assert mirrored.mirror > 0.95 and abs(distinct.mirror) < 0.2
    assert ranked([distinct, mirrored], "mirror")[0] is mirrored


def test_mirror_scores_equal_the_metric_module_for_the_same_seeds(tiny_generator):
    heads = scores_of(tiny_generator, [3, 4, 5], psi=0.7, batch_size=2)
    assert [h.score.seed for h in heads] == [3, 4, 5]
    expected = mirrored_face_scores(tiny_generator, [3, 4, 5], psi=0.7)
    assert torch.allclose(torch.tensor([h.score.mirror for h in heads]), expected, atol=1e-4)


def test_consistency_equals_the_metric_module_on_a_90_degree_orbit():
    head = scores_of(distinct_trigrid(), [0], psi=1.0)[0].score
    expected = multiview_consistency(distinct_trigrid(), [0], yaw_step=90.0)
    assert math.isfinite(head.consistency) and head.coverage > 0.1
    assert head.consistency == pytest.approx(expected["psnr"], abs=1e-3)
    assert head.coverage == pytest.approx(expected["coverage"], abs=1e-4)


def test_batches_do_not_change_the_scores_and_thumbnails_have_four_views(tiny_generator):
    one = scores_of(tiny_generator, [7, 8], batch_size=1)
    two = scores_of(tiny_generator, [7, 8], batch_size=2, thumbnail=24)
    for a, b in zip(one, two, strict=True):
        assert a.score.mirror == pytest.approx(b.score.mirror, abs=1e-4)
    assert one[0].thumbnails.shape == (len(YAWS), 64, 64, 3) and two[0].thumbnails.shape == (4, 24, 24, 3)
    assert one[0].thumbnails.dtype == np.uint8


def table():
    return [
        SeedScore(1, 0.10, 30.0, 0.02, 0.5),
        SeedScore(2, 0.80, 25.0, 0.05, 0.4),
        SeedScore(3, NAN, 20.0, 0.09, 0.3),
        SeedScore(4, 0.40, 35.0, 0.01, 0.6),
    ]


def test_ranking_puts_the_worst_first_and_missing_scores_last():
    assert [s.seed for s in ranked(table(), "mirror")] == [2, 4, 1, 3]
    assert [s.seed for s in ranked(table(), "mirror", worst_first=False)] == [1, 4, 2, 3]
    assert [s.seed for s in ranked(table(), "consistency")] == [3, 2, 1, 4]
    assert [s.seed for s in ranked(table(), "seed")] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="sort key 'psnr'"):
        ranked(table(), "psnr")


def test_the_worst_of_each_score_is_flagged_and_filters_keep_the_rest():
    assert worst(table(), 0.25) == {2, 3}  # highest mirror score; lowest consistency
    assert worst(table(), 0.5) == {2, 4, 3}
    assert [s.seed for s in filtered(table(), max_mirror=0.5)] == [1, 3, 4]
    assert [s.seed for s in filtered(table(), min_consistency=26.0)] == [1, 4]


@pytest.mark.parametrize("name", ["browse.csv", "browse.json"])
def test_table_reloads_in_the_same_order_with_flags_and_missing_scores(tmp_path, name):
    order = ranked(table(), "consistency")
    write_table(tmp_path / name, order, frozenset({3}))
    scores, flagged = read_table(tmp_path / name)
    assert [s.seed for s in scores] == [3, 2, 1, 4] and flagged == {3}
    assert math.isnan(scores[0].mirror) and scores[1] == order[1]


def test_unknown_table_format_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"browse\.txt: unknown table format"):
        write_table(tmp_path / "browse.txt", table())


@pytest.mark.parametrize("text", ["[1, 2]", '{"rows": 3}', "{", '{"rows": [' * 400])
def test_a_json_file_that_is_no_seed_table_is_one_line(tmp_path, text):
    """A list, a wrong field, broken or absurdly nested JSON: one line naming the file, not a traceback."""
    path = tmp_path / "other.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"other\.json: not a seed table"):
        read_table(path)


def test_contact_sheet_has_a_row_per_head_and_frames_the_flagged(tiny_generator):
    heads = scores_of(tiny_generator, [0, 1], thumbnail=32)
    sheet = contact_sheet(heads, "strip", frozenset({1}))
    plain = contact_sheet(heads, "front-back")
    assert sheet.shape[0] == plain.shape[0] > 2 * 32
    red = np.all(sheet == FLAG_RGB, axis=-1)
    assert red.sum() == red[-32:].sum() >= 4 * 4 * 30  # four framed views, in the second row only
    assert not np.all(plain == FLAG_RGB, axis=-1).any()
