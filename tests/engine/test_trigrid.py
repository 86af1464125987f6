import torch

from panohead.rendering.trigrid import sample_trigrid, sample_trigrid_per_grid, sampling_layout


def bilinear_reference(plane: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Textbook bilinear lookup with zero padding; (C, H, W) plane, coords in [-1, 1] -> (M, C)."""
    channels, height, width = plane.shape
    x = (u + 1) * width / 2 - 0.5
    y = (v + 1) * height / 2 - 0.5
    x0, y0 = x.floor().long(), y.floor().long()
    out = torch.zeros(u.shape[0], channels, dtype=plane.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
            valid = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            values = plane[:, yi.clamp(0, height - 1), xi.clamp(0, width - 1)].T
            out += torch.where(valid[:, None], values * weight[:, None], torch.zeros_like(values))
    return out


def test_depth_one_trigrid_equals_bilinear_triplane_sampling():
    torch.manual_seed(1)
    grids = torch.randn(2, 3, 5, 1, 9, 7, dtype=torch.float64)
    points = torch.rand(2, 300, 3, dtype=torch.float64) - 0.5
    sampled = sample_trigrid_per_grid(grids, points, box_warp=1.0)
    coords = points * 2.0
    axis_pairs = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz planes
    for b in range(2):
        for g, (a0, a1) in enumerate(axis_pairs):
            expected = bilinear_reference(grids[b, g, :, 0], coords[b, :, a0], coords[b, :, a1])
            assert (sampled[b, g] - expected).abs().max() < 1e-6


def test_official_panohead_single_plane_fades_along_its_normal():
    """layout 'panohead-3d': a D = 1 grid read in 3-D keeps the centre value and halves at the box face."""
    grids = torch.ones(1, 3, 1, 1, 4, 4)
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.25], [0.0, 0.0, 0.5]]])
    xy_grid = sample_trigrid_per_grid(grids, points, 1.0, layout="panohead-3d")[0, 0, :, 0]
    assert torch.allclose(xy_grid, torch.tensor([1.0, 0.75, 0.5]))


def test_eg3d_triplane_layout_equals_bilinear_plane_sampling():
    torch.manual_seed(1)
    grids = torch.randn(2, 3, 5, 1, 9, 7, dtype=torch.float64)
    points = torch.rand(2, 300, 3, dtype=torch.float64) - 0.5
    sampled = sample_trigrid_per_grid(grids, points, box_warp=1.0, layout="eg3d")
    coords = points * 2.0
    axis_pairs = ((0, 1), (0, 2), (2, 0))  # EG3D's xy, xz and zx planes
    for b in range(2):
        for g, (a0, a1) in enumerate(axis_pairs):
            expected = bilinear_reference(grids[b, g, :, 0], coords[b, :, a0], coords[b, :, a1])
            assert (sampled[b, g] - expected).abs().max() < 1e-6
    assert torch.allclose(sample_trigrid(grids, points, 1.0, layout="eg3d"), sampled.mean(dim=1))


def test_points_along_a_normal_share_the_triplane_feature_but_not_the_trigrid_feature():
    """The mirroring ambiguity of tri-planes (Sec. 3.2): face and back-of-head points collide on xy."""
    torch.manual_seed(2)
    front = torch.tensor([[[0.1, 0.05, 0.3]]])
    back = torch.tensor([[[0.1, 0.05, -0.3]]])  # same x, y; differs only along z
    points = torch.cat([front, back], dim=1)
    triplane = sample_trigrid_per_grid(torch.randn(1, 3, 4, 1, 8, 8), points, 1.0)
    trigrid = sample_trigrid_per_grid(torch.randn(1, 3, 4, 3, 8, 8), points, 1.0)
    xy_grid = 0
    assert torch.allclose(triplane[0, xy_grid, 0], triplane[0, xy_grid, 1])
    assert not torch.allclose(trigrid[0, xy_grid, 0], trigrid[0, xy_grid, 1], atol=1e-3)


def test_trigrid_interpolates_linearly_across_depth_planes():
    grids = torch.zeros(1, 3, 1, 3, 4, 4)
    grids[0, 0, 0] = torch.tensor([0.0, 1.0, 2.0])[:, None, None]  # xy grid: value = depth index
    # Depth centres of a 3-plane grid in world z are -1/3, 0, +1/3 (box side 1): index = 3 z + 1.
    z = torch.tensor([-1 / 3, -1 / 6, 0.0, 0.25])
    points = torch.stack([torch.zeros_like(z), torch.zeros_like(z), z], dim=-1)[None]
    values = sample_trigrid_per_grid(grids, points, 1.0)[0, 0, :, 0]
    assert torch.allclose(values, 3 * z + 1, atol=1e-6)


def test_channels_last_and_expanded_grids_give_the_same_features_bit_for_bit():
    """The CPU lays grids out channels-last and renders the views of one head from an expanded tri-grid;
    neither may change a value."""
    torch.manual_seed(4)
    for depth, layout in ((3, "panohead"), (1, "panohead"), (1, "panohead-3d"), (1, "eg3d")):
        grids = torch.randn(1, 3, 6, depth, 10, 9)
        points = (torch.rand(4, 200, 3) - 0.5) * 1.2
        laid_out = sampling_layout(grids)
        assert laid_out.stride(2) == 1 and sampling_layout(laid_out) is laid_out
        views = laid_out.expand(4, -1, -1, -1, -1, -1)  # no copy per view
        copies = grids.repeat(4, 1, 1, 1, 1, 1).contiguous()
        assert torch.equal(sample_trigrid(views, points, 1.0, layout), sample_trigrid(copies, points, 1.0, layout))
        per_grid = sample_trigrid_per_grid(copies, points, 1.0, layout)
        assert torch.equal(sample_trigrid(copies, points, 1.0, layout), per_grid.mean(dim=1))
