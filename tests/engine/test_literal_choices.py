"""Each string mode is one ``Literal`` alias; its runtime tuple, the tables keyed by it and the checks of
values from outside (configs, settings) all come from that alias, so a choice cannot be added in one place only."""

from __future__ import annotations

from typing import get_args

import pytest

from panohead.browser.sheet import LAYOUTS, SheetLayout
from panohead.browser.table import SORT_KEYS, SortKey
from panohead.config import PRESET_NAMES, PRESETS, GeneratorConfig, PresetName
from panohead.export.video import VIEWS
from panohead.metrics.distribution import SPLIT_YAW_RANGES, Split
from panohead.numbers import literal_choices
from panohead.training.options import TRAINING_PRESETS
from panohead.views.images import AXES, AXIS_INDEX, COLORMAP_ANCHORS, COLORMAPS
from panohead.views.modes import HEAD_MODES, MODES, SLICE_MODES


@pytest.mark.parametrize(
    ("table", "alias"),
    [(LAYOUTS, SheetLayout), (SORT_KEYS, SortKey), (SPLIT_YAW_RANGES, Split), (PRESETS, PresetName)],
)
def test_tables_keyed_by_a_mode_cover_every_choice_of_its_alias(table, alias):
    assert set(table) == set(get_args(alias))


def test_runtime_tuples_are_the_alias_choices_in_order():
    assert PRESET_NAMES == ("tiny", "small", "medium", "paper") and set(TRAINING_PRESETS) == set(PRESET_NAMES)
    assert tuple(COLORMAP_ANCHORS) == COLORMAPS and AXES == ("x", "y", "z") and AXIS_INDEX == {"x": 0, "y": 1, "z": 2}
    assert MODES == HEAD_MODES + SLICE_MODES


def test_video_views_are_the_viewer_modes_with_image_for_final_and_the_mirror():
    assert set(VIEWS) == {"image" if mode == "final" else mode for mode in MODES} | {"mirror"}


def test_a_config_value_outside_its_literal_is_refused_naming_the_choices():
    assert literal_choices(GeneratorConfig)["plane_layout"] == ("panohead", "panohead-3d", "eg3d")
    with pytest.raises(ValueError, match="plane_layout must be one of 'panohead', 'panohead-3d', 'eg3d', got 'eg4d'"):
        GeneratorConfig(plane_layout="eg4d")  # a value from a file
    with pytest.raises(ValueError, match="sr_noise_mode must be one of 'const', 'random', 'none', got None"):
        GeneratorConfig(sr_noise_mode=None)
