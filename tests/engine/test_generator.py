import json
import math
from pathlib import Path

import pytest
import torch

from panohead.config import GeneratorConfig, preset
from panohead.generator import PanoHeadGenerator, parameter_count, seed_latent
from panohead.views.camera import orbit_camera
from tests.conftest import make_tiny_generator

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "official_G_state_dict.json"


@pytest.mark.parametrize("depth", [1, 3])
def test_tiny_outputs_have_expected_shapes_and_dtypes(depth):
    generator = make_tiny_generator(grid_depth=depth)
    cfg = generator.config
    z = torch.randn(2, cfg.z_dim)
    c = orbit_camera(torch.tensor([0.0, 180.0]))
    with torch.no_grad():
        out = generator(z, c)
    n, r = cfg.neural_resolution, cfg.image_resolution
    expected = {
        "image": (2, 3, r, r),
        "image_raw": (2, 3, n, n),
        "mask": (2, 1, r, r),
        "mask_raw": (2, 1, n, n),
        "depth": (2, 1, n, n),
        "features": (2, cfg.plane_channels, n, n),
        "background": (2, cfg.plane_channels, n, n),
        "ws": (2, generator.num_ws, cfg.w_dim),
        "planes": (2, 3, cfg.plane_channels, depth, cfg.plane_resolution, cfg.plane_resolution),
    }
    for name, shape in expected.items():
        assert tuple(out[name].shape) == shape, name
        assert out[name].dtype == torch.float32, name
        assert torch.isfinite(out[name]).all(), name
    assert 0.0 <= out["weight_sum"].min() and out["weight_sum"].max() <= 1.0 + 1e-5
    assert ((out["depth"] >= cfg.ray_start) & (out["depth"] <= cfg.ray_end)).all()


def test_composed_image_is_background_where_mask_is_zero_and_foreground_where_one(tiny_generator):
    """Eq. 3: I_gen = (1 - I_m) I_bg + I_r."""
    cfg = tiny_generator.config
    z, c = torch.randn(1, cfg.z_dim), orbit_camera(0.0)
    ws = tiny_generator.mapping(z, c)
    planes = tiny_generator.synthesize_planes(ws)
    density_bias = tiny_generator.decoder.out.bias
    with torch.no_grad():
        density_bias[0] = -1e4  # empty volume: mask 0
        empty = tiny_generator.render(planes, ws, c)
        density_bias[0] = 1e4  # opaque volume: mask 1
        solid = tiny_generator.render(planes, ws, c)
    assert empty["weight_sum"].abs().max() < 1e-6
    assert torch.allclose(empty["features"], empty["background"], atol=1e-6)
    assert (solid["weight_sum"] - 1).abs().max() < 1e-5
    assert torch.allclose(solid["features"], solid["foreground"], atol=1e-4)


def test_background_swap_changes_only_the_background_term(tiny_generator):
    cfg = tiny_generator.config
    c = orbit_camera(17.0)
    ws = tiny_generator.mapping(torch.randn(1, cfg.z_dim), c)
    other_ws = tiny_generator.mapping(torch.randn(1, cfg.z_dim), c)
    planes = tiny_generator.synthesize_planes(ws)
    a = tiny_generator.render(planes, ws, c)
    b = tiny_generator.render(planes, ws, c, background_ws=other_ws)
    assert torch.equal(a["foreground"], b["foreground"]) and torch.equal(a["weight_sum"], b["weight_sum"])
    assert not torch.allclose(a["background"], b["background"])
    expected = a["foreground"] + (1 - a["weight_sum"]) * b["background"]
    assert torch.allclose(b["features"], expected, atol=1e-6)


def test_seeded_generation_is_deterministic_and_seeds_differ(tiny_generator):
    cfg = tiny_generator.config
    c = orbit_camera(0.0)

    def render(seed):
        with torch.no_grad():
            return tiny_generator(seed_latent(seed, cfg.z_dim), c)["image"]

    assert torch.equal(render(3), render(3))
    assert not torch.allclose(render(3), render(4))


def test_orbit_reuses_cached_planes_and_changes_the_view(tiny_generator):
    cfg = tiny_generator.config
    front = orbit_camera(0.0)
    ws = tiny_generator.mapping(torch.randn(1, cfg.z_dim), front)
    planes = tiny_generator.synthesize_planes(ws)
    a = tiny_generator.render(planes, ws, front)["image"]
    b = tiny_generator.render(planes, ws, orbit_camera(180.0))["image"]
    assert not torch.allclose(a, b)


def test_truncation_psi_zero_collapses_to_the_average_latent(tiny_generator):
    cfg = tiny_generator.config
    tiny_generator.mapping_network.w_avg.normal_()
    ws = tiny_generator.mapping(torch.randn(4, cfg.z_dim), orbit_camera(torch.zeros(4)), psi=0.0)
    assert torch.allclose(ws, tiny_generator.mapping_network.w_avg.expand_as(ws))
    partial = tiny_generator.mapping(torch.randn(4, cfg.z_dim), orbit_camera(torch.zeros(4)), psi=0.0, cutoff=2)
    assert torch.allclose(partial[:, :2], tiny_generator.mapping_network.w_avg.expand(4, 2, -1))
    assert not torch.allclose(partial[:, 2:], tiny_generator.mapping_network.w_avg.expand(4, partial.shape[1] - 2, -1))


def test_camera_offset_moves_only_the_translation_entries(tiny_generator):
    cfg = tiny_generator.config
    c = orbit_camera(29.0)
    offset = torch.tensor([[0.01, -0.02, 0.03]])
    adapted = tiny_generator.apply_camera_offset(c, offset)
    changed = (adapted != c).nonzero()[:, 1].tolist()
    assert changed == [3, 7, 11]
    assert tiny_generator.camera_offset(torch.randn(2, cfg.z_dim), orbit_camera(torch.zeros(2))).shape == (2, 3)


def test_sample_returns_density_and_features_at_points(tiny_generator):
    cfg = tiny_generator.config
    planes = tiny_generator.synthesize_planes(tiny_generator.mapping(torch.randn(1, cfg.z_dim), orbit_camera(0.0)))
    out = tiny_generator.sample(planes, torch.rand(1, 50, 3) - 0.5)
    assert out["density"].shape == (1, 50, 1) and out["features"].shape == (1, 50, cfg.plane_channels)
    assert (out["density"] >= 0).all()


@pytest.mark.slow
def test_paper_config_matches_the_official_tensor_count_and_renders_512():
    generator = PanoHeadGenerator(preset("paper")).eval()
    numbers = sum(t.numel() for t in generator.state_dict().values())
    official = json.loads(SPEC.read_text()) if SPEC.is_file() else None
    if official is not None:
        # The official file also stores a constant 4x4 resample filter per layer; we build it at run time.
        expected = sum(math.prod(shape) for name, shape in official.items() if not name.endswith("resample_filter"))
        assert numbers == expected
    assert 50e6 < parameter_count(generator) < 60e6
    with torch.no_grad():
        ws = generator.mapping(torch.randn(1, 512), orbit_camera(0.0))
        planes = generator.synthesize_planes(ws)
        out = generator.render(planes, ws, orbit_camera(0.0), neural_resolution=16)
    assert out["image"].shape == (1, 3, 512, 512)
    assert planes.shape == (1, 3, 32, 3, 256, 256)


def test_invalid_config_is_rejected_with_the_reason():
    with pytest.raises(ValueError, match="image_resolution must equal"):
        GeneratorConfig(image_resolution=256)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
