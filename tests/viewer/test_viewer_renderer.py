"""The visualizer's renderer, state and image helpers, without a window (no display needed)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import numpy as np
import pytest
import torch

from panohead.camera import pixel_rays
from panohead.checkpoint import save_generator
from panohead.editing import Latent
from panohead.generator import seed_latent
from panohead.latent_file import LatentError, load_latent, save_latent
from panohead.precision import Precision
from panohead.userdirs import CONFIG_ENV
from panohead.views.camera import orbit_camera
from panohead.views.images import normals_from_depth, orient_plane, pca_colours, slice_points
from panohead.views.trigrid import TrigridSpec, trigrid_mosaic
from tests.conftest import make_tiny_generator
from viz.async_renderer import AsyncRenderer
from viz.renderer import Renderer, RenderResult
from viz.request import build_request
from viz.settings import SETTINGS_NAME, load_state, save_state
from viz.state import AppState


@pytest.fixture
def tiny_state(tmp_path) -> AppState:
    path = tmp_path / "tiny.safetensors"
    save_generator(path, make_tiny_generator())
    state = AppState()
    state.model.source = str(path)
    return state


def render(renderer: Renderer, state: AppState, quality: str = "full") -> RenderResult:
    result = renderer(build_request(state, "cpu"), quality)
    assert result.error is None, result.error
    return result


def test_split_pipeline_of_the_viewer_reproduces_generator_render(tiny_generator):
    """Volume without background, then Eq. 3 compose + to_rgb + SR equals G.render in one call."""
    G = tiny_generator
    c = orbit_camera(23.0)
    ws = G.mapping(seed_latent(3, G.config.z_dim), orbit_camera(0.0), psi=0.7)
    planes, background = G.synthesize_planes(ws), G.synthesize_background(ws)
    reference = G.render(planes, ws, c, background=background)
    volume = G.render(planes, ws, c, background=torch.zeros(1, G.config.plane_channels, 1, 1), superresolve=False)
    features, _ = G.compose(volume["foreground"], volume["weight_sum"], background)
    raw = G.to_rgb(features, ws)
    assert torch.allclose(features, reference["features"], atol=1e-6)
    assert torch.allclose(G.superres(raw, features, ws), reference["image"], atol=1e-5)


def test_orbiting_reuses_ws_and_trigrid_and_only_marches_rays(tiny_state):
    renderer = Renderer()
    first = render(renderer, tiny_state)
    assert torch.backends.cudnn.benchmark is False  # autotuning was on for the frame only
    assert {"mapping", "tri-grid", "render", "super-resolution"} <= set(first.timings)
    tiny_state.edit = tiny_state.edit.with_camera(yaw=90.0)
    orbit = render(renderer, tiny_state)
    assert "mapping" not in orbit.timings and "tri-grid" not in orbit.timings
    assert "render" in orbit.timings and "super-resolution" in orbit.timings
    assert np.abs(orbit.image.astype(int) - first.image.astype(int)).mean() > 1


def test_changing_the_background_reuses_the_ray_marched_head(tiny_state):
    renderer = Renderer()
    render(renderer, tiny_state)
    tiny_state.edit = tiny_state.edit.replace(background=Latent.from_seed(9))
    swapped = render(renderer, tiny_state)
    assert "render" not in swapped.timings and "tri-grid" not in swapped.timings
    assert "background" in swapped.timings and "mapping" in swapped.timings  # the background seed's w


def test_a_saved_latent_file_renders_the_same_head(tiny_state, tmp_path):
    renderer = Renderer()
    tiny_state.edit = tiny_state.edit.replace(latent=Latent.blended(4, 1, 0.5))
    blended = render(renderer, tiny_state)
    save_latent(tmp_path / "head.npz", blended.ws, seed=4)
    model = blended.model
    latent = Latent.from_file(tmp_path / "head.npz", model.num_ws, model.w_dim, model.z_dim)
    assert latent.label == "head.npz"
    tiny_state.edit = tiny_state.edit.replace(latent=latent)
    reloaded = render(renderer, tiny_state)
    assert np.array_equal(reloaded.image, blended.image)


def test_new_seed_resynthesises_the_trigrid(tiny_state):
    renderer = Renderer()
    render(renderer, tiny_state)
    tiny_state.edit = tiny_state.edit.replace(latent=Latent.from_seed(1))
    assert {"mapping", "tri-grid", "render"} <= set(render(renderer, tiny_state).timings)


def test_colour_background_is_laid_behind_the_head_with_the_mask(tiny_state):
    renderer = Renderer()
    head = render(renderer, tiny_state)
    tiny_state.background.mode, tiny_state.background.colour = "colour", (0.0, 1.0, 0.0)
    swapped = render(renderer, tiny_state)
    mask = head.mask[..., None]
    expected = head.image[..., :3] / 255.0 * mask + np.array([0.0, 1.0, 0.0]) * (1 - mask)
    assert np.abs(swapped.image[..., :3] / 255.0 - expected).max() < 2.5 / 255


def test_every_view_mode_and_inspector_renders(tiny_state):
    renderer = Renderer()
    for mode in ("final", "raw", "mask", "depth", "normals", "background", "foreground", "density", "colour"):
        tiny_state.view.mode = mode
        for quality in ("preview", "full"):
            result = render(renderer, tiny_state, quality)
            assert result.image.dtype == np.uint8 and result.image.shape[2] == 4
    tiny_state.view.target = "trigrid"
    assert len(render(renderer, tiny_state).cells) == 3 * (3 + 1)
    tiny_state.view.target = "mirror"
    assert len(render(renderer, tiny_state).cells) == 3


def test_transparent_backdrop_keeps_the_mask_as_alpha(tiny_state):
    tiny_state.view.mode, tiny_state.view.backdrop = "foreground", "transparent"
    result = render(Renderer(), tiny_state)
    assert np.abs(result.image[..., 3] / 255.0 - result.mask).max() < 1.5 / 255


def test_unreadable_checkpoint_comes_back_as_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 20)
    state = AppState()
    state.model.source = str(broken)
    result = Renderer()(build_request(state, "cpu"))
    assert result.image is None and result.model is None
    assert result.error.startswith(f"{broken}: ") and "\n" not in result.error


def test_missing_background_image_is_reported_with_its_path(tiny_state, tmp_path):
    tiny_state.background.mode, tiny_state.background.image = "image", str(tmp_path / "nope.png")
    result = Renderer()(build_request(tiny_state, "cpu"))
    assert result.error == f"{tmp_path / 'nope.png'}: background image not found"
    assert result.model is not None  # the model itself was fine


def test_async_renderer_drops_stale_requests_and_keeps_the_newest(tiny_state):
    rendered = []
    started = threading.Event()

    def slow(request, quality):
        started.set()
        time.sleep(0.2)
        rendered.append(request.edit.camera.yaw)
        return RenderResult(request, quality)

    renderer = AsyncRenderer(slow)
    try:
        for yaw in (0.0, 10.0, 20.0, 30.0):
            tiny_state.edit = tiny_state.edit.with_camera(yaw=yaw)
            renderer.submit(build_request(tiny_state, "cpu"))
            started.wait(1.0)
        deadline = time.monotonic() + 5
        while not renderer.idle and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rendered == [0.0, 30.0] and renderer.dropped == 2
        assert renderer.take_result().request.edit.camera.yaw == 30.0
    finally:
        assert renderer.stop()


def test_a_newer_request_interrupts_the_refining_pass():
    qualities = []
    gate = threading.Event()

    def fn(request, quality):
        qualities.append((request, quality))
        gate.wait(1.0)
        return RenderResult(request, quality)

    renderer = AsyncRenderer(fn, passes=("preview", "full"))
    try:
        state = AppState()
        renderer.submit(build_request(state, "cpu"))
        time.sleep(0.05)
        state.edit = state.edit.with_camera(yaw=45.0)
        renderer.submit(build_request(state, "cpu"))
        gate.set()
        deadline = time.monotonic() + 5
        while not renderer.idle and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(r.edit.camera.yaw, q) for r, q in qualities] == [(0.0, "preview"), (45.0, "preview"), (45.0, "full")]
    finally:
        renderer.stop()


def test_requests_ignore_inspector_settings_while_the_inspector_is_hidden():
    state = AppState()
    before = build_request(state, "cpu")
    state.trigrid.channel = 5
    assert build_request(state, "cpu") == before
    state.view.target = "trigrid"
    assert build_request(state, "cpu").trigrid.channel == 5


def test_state_update_rejects_unknown_names_and_bad_choices():
    state = AppState()
    state.update(view={"turntable_speed": 90}, edit={"cutoff": 4})
    assert state.view.turntable_speed == 90.0 and isinstance(state.view.turntable_speed, float)
    assert state.edit.cutoff == 4
    state.update(edit={"cutoff": None})
    assert state.edit.cutoff is None
    with pytest.raises(ValueError, match="ViewState.zoom"):
        state.update(view={"zoom": 2})
    with pytest.raises(ValueError, match="edit: .*zoom"):
        state.update(edit={"zoom": 2})
    with pytest.raises(ValueError, match="ViewState.mode"):
        state.update(view={"mode": "xray"})


def test_settings_round_trip_and_a_corrupt_file_falls_back_to_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    state = AppState()
    state.update(
        edit={"latent": Latent.from_seed(42)}, background={"colour": (0.1, 0.2, 0.3)}, model={"recent": ["a.pkl"]}
    )
    save_state(state)
    loaded, warning = load_state()
    assert warning is None and loaded == state
    state.edit = state.edit.replace(psi=float(np.float32(0.7)))  # as the slider hands it back
    save_state(state)
    assert '"psi": 0.7\n' in (tmp_path / SETTINGS_NAME).read_text()  # not 0.699999988079071
    (tmp_path / SETTINGS_NAME).write_text(json.dumps({"latent": {"seed": "many"}, "camera": {"yaw": 90}}))
    loaded, warning = load_state()
    assert loaded.edit.latent == Latent.from_seed(0) and loaded.edit.camera.yaw == 90.0
    assert warning == (
        f"{tmp_path / SETTINGS_NAME}: ignored 1 setting "
        "(latent.seed (invalid literal for int() with base 10: 'many')); the others were used"
    )
    (tmp_path / SETTINGS_NAME).write_text("{not json")
    loaded, warning = load_state()
    assert loaded == AppState() and warning.startswith(str(tmp_path / SETTINGS_NAME))


def test_latent_file_round_trip_and_shape_errors(tmp_path):
    ws = np.random.default_rng(0).standard_normal((10, 32)).astype(np.float32)
    save_latent(tmp_path / "a.npz", ws, seed=3)
    assert torch.equal(load_latent(tmp_path / "a.npz", 10, 32, 32)["ws"], torch.from_numpy(ws)[None])
    np.savez(tmp_path / "w.npz", w=ws[:1])
    assert load_latent(tmp_path / "w.npz", 10, 32, 32)["ws"].shape == (1, 10, 32)
    np.savez(tmp_path / "b.npz", ws=ws[None])
    with pytest.raises(LatentError, match=r"b\.npz: 'ws' has shape \(1, 10, 32\), this model needs \(14, 512\)"):
        load_latent(tmp_path / "b.npz", 14, 512, 512)
    np.savez(tmp_path / "c.npz", other=ws)
    with pytest.raises(LatentError, match="no 'ws', 'w' or 'z' array"):
        load_latent(tmp_path / "c.npz", 10, 32, 32)


def test_normals_of_a_wall_facing_the_camera_point_at_the_viewer():
    label = orbit_camera(0.0, look_at=(0.0, 0.0, 0.0))
    n = 16
    _, directions = pixel_rays(label, n)
    depth = (2.7 / directions[0, :, 2].abs()).reshape(1, n, n)  # distance along each ray to the plane z = 0
    colours = normals_from_depth(depth, label, torch.ones(1, n, n))
    assert torch.allclose(colours[:, 2:-2, 2:-2], torch.tensor([0.5, 0.5, 1.0]).reshape(3, 1, 1), atol=1e-3)


def test_slices_and_planes_share_one_orientation():
    """Row 0 of a z slice is the top (+y), its last column the right (+x)."""
    points = slice_points(2, 0.1, 4, 1.0).reshape(4, 4, 3)
    assert points[0, 0, 1] > points[-1, 0, 1] and points[0, -1, 0] > points[0, 0, 0]
    assert torch.all(points[..., 2] == 0.1)
    stored = torch.arange(16.0).reshape(1, 4, 4)  # rows along y ascending, columns along x ascending
    shown = orient_plane(stored, 0, 1, 2)
    assert shown[0, 0, 0] == stored[0, -1, 0]  # the top-left shows the largest y, smallest x


def test_trigrid_mosaic_lays_out_three_rows_of_depth_planes_and_slices():
    planes = torch.randn(1, 3, 8, 3, 16, 16)
    image, cells = trigrid_mosaic(planes, TrigridSpec(), 1.0, "panohead")
    assert image.shape[0] == 3 and len(cells) == 12
    assert [c.kind for c in cells].count("plane") == 9
    _, cells = trigrid_mosaic(planes, TrigridSpec(all_planes=False, depth_index=2, display="channel"), 1.0, "panohead")
    assert len(cells) == 6 and "plane 3/3" in cells[0].label


def test_pca_puts_the_strongest_feature_direction_in_red_with_a_fixed_sign():
    torch.manual_seed(0)
    features = torch.randn(2000, 8) * torch.tensor([5.0, 2.0, 1.0, 0.3, 0.3, 0.3, 0.3, 0.3])
    colours = pca_colours(features)
    assert colours.shape == (2000, 3) and colours.min() >= 0 and colours.max() <= 1
    assert torch.corrcoef(torch.stack([colours[:, 0], features[:, 0]]))[0, 1] > 0.9
    assert torch.corrcoef(torch.stack([colours[:, 1], features[:, 1]]))[0, 1] > 0.9


def test_an_idle_renderer_shows_its_last_measured_rate_not_zero(monkeypatch):
    """The Stats tab said "Renderer 0.0 FPS" a second after the last frame; it says idle and the last rate."""
    import viz.async_renderer
    from viz.performance_widget import renderer_rate

    monkeypatch.setattr(viz.async_renderer, "IDLE_AFTER", 0.3)

    def fn(request, quality):
        time.sleep(0.02)
        return RenderResult(request, quality)

    renderer = AsyncRenderer(fn)
    try:
        assert renderer_rate(renderer) == "  idle"  # nothing measured yet
        state = AppState()
        for yaw in (0.0, 10.0, 20.0, 30.0):
            state.edit = state.edit.with_camera(yaw=yaw)
            renderer.submit(build_request(state, "cpu"))
            time.sleep(0.05)
        assert renderer.rendering and renderer_rate(renderer).endswith(" FPS")
        time.sleep(0.5)
        rate = renderer.fps
        assert not renderer.rendering and rate is not None and 0 < rate < 50  # frames at least 0.02 s apart
        assert renderer_rate(renderer) == f"  idle (last {rate:.1f} FPS)"
    finally:
        assert renderer.stop()


def test_every_text_setting_takes_exactly_the_choices_of_its_literal_type():
    """The settings' choice lists are the fields' Literal types (no second list that could drift)."""
    import dataclasses

    from panohead.numbers import literal_choices

    state, checked = AppState(), []
    for section in (f.name for f in dataclasses.fields(state) if f.name != "edit"):
        cls = type(getattr(state, section))
        for name, choices in literal_choices(cls).items():
            for choice in choices:
                state.update(**{section: {name: choice}})
                assert getattr(getattr(state, section), name) == choice
            with pytest.raises(ValueError, match=rf"{cls.__name__}.{name}: 'nope' is not one of {', '.join(choices)}"):
                state.update(**{section: {name: "nope"}})
            checked.append(f"{section}.{name}")
    assert {"view.mode", "view.target", "background.mode", "model.precision", "export.video_view"} <= set(checked)
    assert len(checked) == 14


def test_a_precision_switch_recomputes_the_stages_it_changes_and_switching_back_hits_the_cache(tiny_state, monkeypatch):
    # A CPU renders in float32 whatever is asked; here it renders what is asked (bf16 autocast runs on a
    # CPU, TF32 is a no-op there but still a different cache entry, as it is on a GPU).
    monkeypatch.setattr(Precision, "rendering_on", lambda precision, device: precision)
    renderer, request = Renderer(), build_request(tiny_state, "cpu")

    def at(name: str) -> RenderResult:
        result = renderer(dataclasses.replace(request, precision=Precision.parse(name)), "full")
        assert result.error is None, result.error
        return result

    fp32 = at("fp32")
    tf32 = at("tf32")  # TF32 rounds every float32 stage: the head is mapped, synthesised and marched again
    assert {"mapping", "tri-grid", "render", "background", "super-resolution"} <= set(tf32.timings)
    bf16 = at("bf16")  # autocast reaches only the background and the super-resolution
    assert "tri-grid" not in bf16.timings and "render" not in bf16.timings
    assert {"background", "super-resolution"} <= set(bf16.timings)
    assert np.abs(bf16.image.astype(int) - fp32.image.astype(int)).max() > 0
    again = at("fp32")
    assert set(again.timings) == {"display"} and np.array_equal(again.image, fp32.image)
