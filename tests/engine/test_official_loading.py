"""Official PanoHead / EG3D snapshot pickles open as our generators, render, and convert losslessly."""

from __future__ import annotations

import io
import json

import pytest
import torch
from official_pickles import EG3D_TINY, PANOHEAD_TINY, TINY_D, random_generator, snapshot_bytes

from panohead.checkpoint import CheckpointError, load_generator, load_tensors
from panohead.official import (
    OfficialCheckpointError,
    convert_official,
    load_official_generator,
    load_official_snapshot,
    summary,
)
from panohead.official.architecture import generator_config
from panohead.official.unpickler import restricted_load
from panohead.training.discriminator import TriDiscriminator
from panohead.training.snapshot import read_snapshot
from panohead.views.camera import orbit_camera


@pytest.fixture(scope="module")
def panohead_source():
    return random_generator(PANOHEAD_TINY, seed=1)


@pytest.fixture(scope="module")
def eg3d_source():
    return random_generator(EG3D_TINY, seed=2)


@pytest.fixture(scope="module")
def discriminator_source():
    torch.manual_seed(4)
    D = TriDiscriminator(TINY_D).eval().requires_grad_(False)
    for name, tensor in D.state_dict().items():
        if name.endswith("bias"):
            tensor.copy_(torch.randn_like(tensor) * 0.2)
    return D


@pytest.fixture(scope="module")
def panohead_pkl(tmp_path_factory, panohead_source, discriminator_source):
    path = tmp_path_factory.mktemp("official") / "network-snapshot-000400.pkl"
    path.write_bytes(snapshot_bytes(panohead_source, D=discriminator_source))
    return path


@pytest.fixture(scope="module")
def eg3d_pkl(tmp_path_factory, eg3d_source):
    path = tmp_path_factory.mktemp("official") / "eg3d-ffhq.pkl"
    path.write_bytes(snapshot_bytes(eg3d_source, with_training_copy=False))
    return path


def render(G, seed: int = 7):
    torch.manual_seed(seed)
    z = torch.randn(2, G.config.z_dim)
    c = orbit_camera(torch.tensor([23.0, -143.0]), torch.tensor([5.7, -11.5]))
    with torch.no_grad():
        return G(z, c, psi=0.7, adapt_camera=G.camera_adapter is not None)


def test_panohead_trigrid_snapshot_loads_with_its_architecture_and_every_weight(panohead_pkl, panohead_source):
    G = load_official_generator(panohead_pkl)
    assert G.config == PANOHEAD_TINY
    ours = panohead_source.state_dict()
    assert G.state_dict().keys() == ours.keys()
    assert all(torch.equal(G.state_dict()[name], ours[name]) for name in ours)


def test_eg3d_triplane_snapshot_loads_as_eg3d_layout_without_background_or_adapter(eg3d_pkl, eg3d_source):
    G = load_official_generator(eg3d_pkl)
    cfg = G.config
    assert (cfg.plane_layout, cfg.grid_depth, cfg.decoder_activation) == ("eg3d", 1, "sigmoid")
    assert (cfg.background, cfg.camera_adapter, cfg.raw_to_rgb, cfg.crop_margin) == (False, False, False, 0.0)
    assert (cfg.image_resolution, cfg.sr_channels, cfg.sr_upsample_first) == (64, (16, 8), True)
    assert all(torch.equal(G.state_dict()[n], t) for n, t in eg3d_source.state_dict().items())


@pytest.mark.parametrize("which", ["panohead", "eg3d"])
def test_loaded_generator_renders_exactly_like_the_network_it_was_written_from(which, request):
    source = request.getfixturevalue(f"{which}_source")
    loaded = load_official_generator(request.getfixturevalue(f"{which}_pkl"))
    expected, got = render(source), render(loaded)
    assert got["image"].shape == (2, 3, source.config.image_resolution, source.config.image_resolution)
    for key in ("image", "image_raw", "depth", "mask"):
        assert torch.equal(got[key], expected[key]), key


@pytest.mark.parametrize("which", ["panohead", "eg3d"])
def test_conversion_round_trip_renders_bit_identical_images(which, request, tmp_path):
    pkl = request.getfixturevalue(f"{which}_pkl")
    target = tmp_path / "converted.safetensors"
    convert_official(pkl, target)
    before, after = render(load_official_generator(pkl)), render(load_generator(target))
    for key in ("image", "image_raw", "depth", "mask"):
        assert torch.equal(after[key], before[key]), key


def test_training_snapshot_converts_g_ema_g_and_d_with_provenance(panohead_pkl, tmp_path):
    target = tmp_path / "snapshot.safetensors"
    snapshot = convert_official(panohead_pkl, target)
    tensors, metadata = load_tensors(target, "snapshot")
    assert metadata["converted_from"] == "network-snapshot-000400.pkl"
    assert json.loads(metadata["training_set_kwargs"]) == {"path": "heads.zip", "resolution": 32}
    g_ema_names = {n for n in tensors if n.startswith("G_ema.")}
    assert len(g_ema_names) == len(snapshot.G_ema.state_dict())
    assert {n.replace("G_ema.", "G.", 1) for n in g_ema_names} == {n for n in tensors if n.startswith("G.")}
    assert {n[2:] for n in tensors if n.startswith("D.")} == set(snapshot.D.state_dict())


def test_converted_snapshot_gives_the_training_code_g_g_ema_d_and_d_config(
    panohead_pkl, discriminator_source, tmp_path
):
    target = tmp_path / "snapshot.safetensors"
    convert_official(panohead_pkl, target)
    state = read_snapshot(target)
    assert state.d_config == TINY_D and state.options is None
    assert torch.equal(state.discriminator["epilogue.out.weight"], discriminator_source.epilogue.out.weight)
    assert state.generator.keys() == state.generator_ema.keys()


def test_official_discriminator_converts_with_its_config_and_scores_like_the_source(panohead_pkl, discriminator_source):
    D = load_official_snapshot(panohead_pkl).D
    assert D.config == TINY_D
    torch.manual_seed(3)
    image, raw, mask, c = (
        torch.randn(2, 3, 32, 32),
        torch.randn(2, 3, 16, 16),
        torch.rand(2, 1, 16, 16),
        torch.randn(2, 25),
    )
    with torch.no_grad():
        assert torch.equal(D(image, raw, mask, c), discriminator_source(image, raw, mask, c))


def test_an_unsupported_discriminator_leaves_the_generators_loadable_and_says_why(
    tmp_path, eg3d_source, discriminator_source
):
    def rename(d):
        d.class_name = "MaskDualDiscriminator"

    path = tmp_path / "v1.pkl"
    path.write_bytes(snapshot_bytes(eg3d_source, D=discriminator_source, edit_d=rename))
    snapshot = load_official_snapshot(path)
    assert snapshot.D is None and snapshot.G is not None
    assert summary(snapshot).endswith(
        "D not converted: discriminator MaskDualDiscriminator is not supported "
        "(supported: MaskDualDiscriminatorV2, DualDiscriminator)"
    )


def test_generator_only_file_converts_to_a_generator_checkpoint(eg3d_pkl, tmp_path):
    target = tmp_path / "eg3d.safetensors"
    convert_official(eg3d_pkl, target)
    _, metadata = load_tensors(target, "generator")
    assert metadata["converted_from"] == "eg3d-ffhq.pkl"


def test_snapshot_exposes_g_ema_g_and_training_set_kwargs(panohead_pkl):
    snapshot = load_official_snapshot(panohead_pkl)
    assert snapshot.G is not None and snapshot.G.config == snapshot.G_ema.config
    assert snapshot.training_set_kwargs == {"resolution": 32, "path": "heads.zip"}
    assert isinstance(snapshot.D, TriDiscriminator) and snapshot.discriminator_issue is None


def test_summary_names_architecture_resolution_parameters_and_discriminator(panohead_pkl, eg3d_pkl):
    line = summary(load_official_snapshot(panohead_pkl))
    assert line.startswith("PanoHead tri-grid (D=2), 32x32 image (neural 16, planes 16), with background, ")
    assert line.endswith(" M generator parameters, D 0.1 M parameters")
    eg3d_line = summary(load_official_snapshot(eg3d_pkl))
    assert eg3d_line.startswith("EG3D tri-plane, 64x64 image") and eg3d_line.endswith(", no D")


def test_a_model_source_opens_pkl_files_with_the_official_loader(eg3d_pkl):
    from panohead.model_source import ModelSource

    assert ModelSource.parse(eg3d_pkl).open().config.plane_layout == "eg3d"


def test_our_format_loader_refuses_a_pkl_naming_the_fix(eg3d_pkl):
    with pytest.raises(CheckpointError, match=r"eg3d.*\.pkl: an official snapshot, not our format \(open it with"):
        load_generator(eg3d_pkl)


def test_progress_reports_bytes_read_up_to_the_file_size(eg3d_pkl):
    seen = []
    load_official_generator(eg3d_pkl, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (eg3d_pkl.stat().st_size, eg3d_pkl.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def _failure(tmp_path, source, edit) -> str:
    path = tmp_path / "edited.pkl"
    path.write_bytes(snapshot_bytes(source, edit=edit, with_training_copy=False))
    with pytest.raises(OfficialCheckpointError) as caught:
        load_official_generator(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_a_missing_official_tensor_fails_naming_what_is_left_unfilled(tmp_path, eg3d_source):
    def drop_noise(g):
        del g.child("backbone").child("synthesis").child("b8").child("conv0").state["_buffers"]["noise_const"]

    assert "ours left unfilled: synthesis.blocks.8.conv0.noise_const" in _failure(tmp_path, eg3d_source, drop_noise)


def test_an_extra_official_tensor_fails_naming_it(tmp_path, eg3d_source):
    def add_tensor(g):
        g.child("backbone").child("mapping").state["_buffers"]["w_std"] = torch.ones(32)

    assert "unexpected official tensors: backbone.mapping.w_std" in _failure(tmp_path, eg3d_source, add_tensor)


def test_a_wrongly_shaped_tensor_fails_naming_both_shapes(tmp_path, eg3d_source):
    def reshape(g):
        g.child("backbone").child("mapping").state["_buffers"]["w_avg"] = torch.zeros(31)

    assert "backbone.mapping.w_avg has shape (31,), expected (32,)" in _failure(tmp_path, eg3d_source, reshape)


def test_a_layer_with_another_learning_rate_gain_is_refused(tmp_path, eg3d_source):
    def change_gain(g):
        g.child("backbone").child("mapping").child("fc1").state["bias_gain"] = 1.0

    assert "'backbone.mapping.fc1' has bias_gain = 1.0; ours reproduces 0.01" in _failure(
        tmp_path, eg3d_source, change_gain
    )


def test_a_non_binomial_resampling_filter_is_refused(tmp_path, eg3d_source):
    def change_filter(g):
        g.child("backbone").child("synthesis").child("b8").state["_buffers"]["resample_filter"] = torch.full(
            (4, 4), 1 / 16
        )

    assert "b8.resample_filter is not the [1, 3, 3, 1] resampling filter" in _failure(
        tmp_path, eg3d_source, change_filter
    )


def test_an_unknown_superresolution_module_is_refused(tmp_path, eg3d_source):
    def rename(g):
        g.child("superresolution").class_name = "SuperresolutionHybridDeepfp32"

    assert "super-resolution module SuperresolutionHybridDeepfp32 is not supported" in _failure(
        tmp_path, eg3d_source, rename
    )


def test_white_background_rendering_is_refused(tmp_path, eg3d_source):
    def white(g):
        g.state["rendering_kwargs"]["white_back"] = True

    assert "white background compositing (rendering_kwargs 'white_back') is not supported" in _failure(
        tmp_path, eg3d_source, white
    )


def test_zero_pose_conditioning_maps_to_conditioning_scale_zero(eg3d_source):
    def zero_conditioning(g):
        g.state["rendering_kwargs"]["c_gen_conditioning_zero"] = True

    data = restricted_load(io.BytesIO(snapshot_bytes(eg3d_source, edit=zero_conditioning, with_training_copy=False)))
    assert generator_config(data["G_ema"]).conditioning_scale == 0.0
