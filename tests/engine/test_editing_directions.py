import numpy as np
import pytest
import torch

from panohead.checkpoint import save_generator
from panohead.editing import (
    Direction,
    EditState,
    Latent,
    cached_principal_directions,
    load_directions,
    principal_directions,
    render_state,
    sample_w,
    save_directions,
)
from panohead.editing.pca import cache_key


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOHEAD_STUDIO_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture
def pca(tiny_generator):
    return principal_directions(sample_w(tiny_generator, samples=2000))


def test_principal_directions_are_orthonormal(pca):
    components = pca.components
    assert torch.allclose(components @ components.T, torch.eye(components.shape[0], dtype=components.dtype), atol=1e-5)


def test_principal_directions_explain_a_decreasing_share_of_variance_summing_to_one(pca):
    explained = pca.explained
    assert (explained[:-1] >= explained[1:]).all()
    assert explained[0] > explained[-1]
    assert abs(float(explained.sum()) - 1.0) < 1e-6
    top = pca.top(3)
    assert [d.name for d in top] == ["PC1", "PC2", "PC3"]
    assert top[0].explained == pytest.approx(float(explained[0]))


def test_first_component_is_the_largest_spread_of_the_samples(tiny_generator, pca):
    w = sample_w(tiny_generator, samples=2000)
    projections = (w - pca.mean) @ pca.components[:4].T
    spreads = projections.std(dim=0)
    assert torch.allclose(spreads, pca.variances[:4].sqrt(), rtol=1e-3)


def test_moving_along_a_direction_and_back_returns_the_original_image(tiny_generator, pca):
    direction = pca.top(1)[0]
    start = EditState(latent=Latent.from_seed(4))
    moved = start.with_direction(direction, 3.0)
    back = moved.with_direction(direction, 0.0)
    original = render_state(tiny_generator, start)["image"]
    assert not torch.allclose(render_state(tiny_generator, moved)["image"], original)
    assert back == start
    assert torch.equal(render_state(tiny_generator, back)["image"], original)


def test_direction_amount_is_in_standard_deviations(tiny_generator, pca):
    from panohead.editing import compose

    direction = pca.top(2)[1]
    base, _ = compose(tiny_generator, EditState(latent=Latent.from_seed(4)))
    moved, _ = compose(tiny_generator, EditState(latent=Latent.from_seed(4)).with_direction(direction, 2.0))
    step = (moved - base)[0, 0].double()
    assert float(step.norm()) == pytest.approx(2.0 * float(pca.variances[1].sqrt()), rel=1e-4)


def test_directions_are_computed_once_and_cached_in_the_user_cache_not_beside_the_checkpoint(tiny_generator, tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    save_generator(checkpoint, tiny_generator)
    first, path = cached_principal_directions(tiny_generator, samples=500)
    assert path.parent == tmp_path / "user-cache" / "directions"
    assert list(tmp_path.glob("model.safetensors*")) == [checkpoint]
    stamp = path.stat().st_mtime_ns
    second, again = cached_principal_directions(tiny_generator, samples=500)
    assert again == path and path.stat().st_mtime_ns == stamp
    assert torch.equal(first.components, second.components) and torch.equal(first.variances, second.variances)


def test_a_different_model_gets_a_different_cache_entry(tiny_generator):
    before = cache_key(tiny_generator, 500)
    with torch.no_grad():
        tiny_generator.mapping_network.layers[0].weight.add_(0.01)
    assert cache_key(tiny_generator, 500) != before


def test_an_unwritable_user_cache_still_gives_the_directions_uncached(tiny_generator, tmp_path, monkeypatch):
    (tmp_path / "user-cache").write_text("a file where the cache folder should be")
    pca, path = cached_principal_directions(tiny_generator, samples=500)
    assert path is None and pca.components.shape[0] > 0


def test_saved_directions_load_back_with_names_and_scales(tmp_path, pca):
    named = [pca.top(2)[0].renamed("hair length"), pca.top(2)[1].renamed("age")]
    save_directions(tmp_path / "mine.safetensors", named)
    loaded = load_directions(tmp_path / "mine.safetensors", w_dim=32)
    assert [d.name for d in loaded] == ["hair length", "age"]
    assert [d.scale for d in loaded] == pytest.approx([d.scale for d in named])
    assert np.allclose(loaded[0].vector.numpy(), named[0].vector.numpy(), atol=1e-6)


def test_npy_directions_load_as_unit_vectors_scaled_by_the_w_spread(tmp_path, pca):
    vectors = np.zeros((2, 32), dtype=np.float32)
    vectors[0, 0], vectors[1] = 5.0, pca.components[0].numpy() * 3
    np.save(tmp_path / "found.npy", vectors)
    loaded = load_directions(tmp_path / "found.npy", w_dim=32, covariance=pca.covariance())
    assert [d.name for d in loaded] == ["found 1", "found 2"]
    assert np.linalg.norm(loaded[0].vector.numpy()) == pytest.approx(1.0)
    assert loaded[1].scale == pytest.approx(float(pca.variances[0].sqrt()), rel=1e-4)
    np.save(tmp_path / "one.npy", vectors[0])
    assert len(load_directions(tmp_path / "one.npy", w_dim=32)) == 1


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3, 64), "directions have 64 numbers each, this model's w has 32"),
        ((2, 3, 32), r"expected a numeric array of shape \(k, w_dim\) or \(w_dim,\), got shape \[2, 3, 32\]"),
        ((0,), "expected a numeric array"),
    ],
)
def test_wrong_shaped_npy_directions_are_a_one_line_error_naming_the_file(tmp_path, shape, message):
    path = tmp_path / "bad.npy"
    np.save(path, np.ones(shape, dtype=np.float32))
    with pytest.raises(ValueError, match=message) as excinfo:
        load_directions(path, w_dim=32)
    assert str(excinfo.value).startswith(str(path)) and "\n" not in str(excinfo.value)


def test_zero_and_unreadable_direction_files_are_refused(tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros(32, dtype=np.float32))
    with pytest.raises(ValueError, match="zero.npy: direction vectors must be finite and non-zero"):
        load_directions(tmp_path / "zero.npy", w_dim=32)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="junk.npy: not a readable .npy array"):
        load_directions(tmp_path / "junk.npy", w_dim=32)
    with pytest.raises(FileNotFoundError, match="missing.npy: direction file not found"):
        load_directions(tmp_path / "missing.npy", w_dim=32)


def test_direction_of_the_wrong_size_is_refused_when_applied(tiny_generator):
    direction = Direction.of("elsewhere", np.ones(512, dtype=np.float32) / np.sqrt(512))
    with pytest.raises(ValueError, match="direction 'elsewhere' has 512 numbers, this model's w has 32"):
        render_state(tiny_generator, EditState().with_direction(direction, 1.0))


def test_preview_strip_shows_each_amount_from_front_and_back(tiny_generator, pca):
    from panohead.editing.preview import direction_strip

    strip = direction_strip(tiny_generator, EditState(latent=Latent.from_seed(4)), pca.top(1)[0])
    n = tiny_generator.config.neural_resolution
    assert strip.shape == (2 * n, 3 * n, 3) and strip.dtype == np.uint8
    front_minus, front_zero, front_plus = (strip[:n, i * n : (i + 1) * n] for i in range(3))
    assert not np.array_equal(front_minus, front_plus)
    assert not np.array_equal(front_zero, strip[n:, n : 2 * n])  # the back differs from the front


def test_sampling_w_reports_its_progress_batch_by_batch(tiny_generator):
    fractions = []
    w = sample_w(tiny_generator, samples=500, batch=200, progress=fractions.append)
    assert fractions == [0.4, 0.8, 1.0] and w.shape == (500, tiny_generator.config.w_dim)
