"""The lattice sampler behind mesh export equals per-point tri-grid sampling, only faster."""

from __future__ import annotations

import pytest
import torch
from export_models import tiny_generator_with_surface

from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.rendering.lattice import TrigridLattice, interpolation_matrix
from panohead.rendering.trigrid import sample_trigrid


def lattice_points(axis: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    return torch.stack(torch.meshgrid(axis[start:stop], axis, axis, indexing="ij"), dim=-1)


@pytest.mark.parametrize("layout, depth", [("panohead", 3), ("panohead", 1), ("eg3d", 1), ("eg3d", 3)])
def test_lattice_features_equal_sample_trigrid_at_the_lattice_points(layout, depth):
    grids = torch.randn(2, 3, 4, depth, 8, 8)
    axis = torch.linspace(-0.6, 0.6, 13)  # reaches past the box (half-width 0.5): zero padding included
    features = TrigridLattice(grids, axis, box_warp=1.0, layout=layout).rows(3, 7)
    points = lattice_points(axis, 3, 7)
    expected = sample_trigrid(grids, points.reshape(1, -1, 3).expand(2, -1, -1), 1.0, layout)
    torch.testing.assert_close(features, expected.reshape(2, 4, 13, 13, 4), atol=1e-5, rtol=1e-5)


def test_interpolation_weights_sum_to_one_inside_and_fade_at_the_edges():
    weights = interpolation_matrix(torch.tensor([-1.0, -0.75, 0.0, 0.75, 1.0, 1.5]), 4)
    torch.testing.assert_close(weights.sum(dim=1), torch.tensor([0.5, 1.0, 1.0, 1.0, 0.5, 0.0]))
    torch.testing.assert_close(weights[1], torch.tensor([1.0, 0.0, 0.0, 0.0]))  # -0.75 is texel 0's centre


def test_head_density_rows_equal_density_at_the_same_points():
    generator = tiny_generator_with_surface()
    field = HeadField(generator, head_from_seed(generator, 1))
    axis = torch.linspace(-0.5, 0.5, 11)
    points = lattice_points(axis, 2, 5)
    expected = field.density(points.reshape(-1, 3)).reshape(3, 11, 11)
    torch.testing.assert_close(field.density_rows(axis, 2, 5), expected, atol=1e-4, rtol=1e-5)
    assert (expected == 0).any() and (expected > 10).any()  # both the renderer's crop and solid parts


def test_decoder_density_is_the_first_output_of_the_full_decoder():
    generator = tiny_generator_with_surface()
    features = torch.randn(100, generator.config.plane_channels)
    torch.testing.assert_close(generator.decoder.density(features), generator.decoder(features)[0])
