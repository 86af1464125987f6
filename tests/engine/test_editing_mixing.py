import pytest
import torch

from panohead.editing import Camera, EditState, Latent, Mixing, compose, group_range, layer_groups, render_state
from panohead.editing.mixing import w_resolutions
from panohead.generator import seed_latent
from panohead.nn.synthesis import SynthesisNetwork
from panohead.views.camera import orbit_camera

YAW = 34.0  # degrees


def plain_render(generator, seed, psi=0.7):
    """What `panohead generate` does for one seed: frontal conditioning, default background."""
    frontal = orbit_camera(0.0)
    ws = generator.mapping(seed_latent(seed, generator.config.z_dim), frontal, psi=psi)
    planes = generator.synthesize_planes(ws)
    return generator.render(planes, ws, orbit_camera(YAW), background=generator.synthesize_background(ws))["image"]


def mixed_state(generator, head_layers, background_layers):
    return EditState(
        latent=Latent.from_seed(1),
        psi=0.7,
        camera=Camera(yaw=YAW),
        mixing=Mixing(Latent.from_seed(2), head_layers, background_layers),
    )


def test_mixing_no_layers_reproduces_seed_a_bit_for_bit(tiny_generator):
    image = render_state(tiny_generator, mixed_state(tiny_generator, (0, 0), (0, 0)))["image"]
    assert torch.equal(image, plain_render(tiny_generator, 1))


def test_mixing_all_layers_reproduces_seed_b_bit_for_bit(tiny_generator):
    state = mixed_state(tiny_generator, (0, tiny_generator.num_ws), (0, tiny_generator.background.num_ws))
    image = render_state(tiny_generator, state)["image"]
    assert torch.equal(image, plain_render(tiny_generator, 2))
    assert not torch.allclose(image, plain_render(tiny_generator, 1))


def test_mixing_fine_layers_takes_exactly_those_rows_from_b(tiny_generator):
    fine = group_range(tiny_generator.synthesis, "fine")
    ws, background = compose(tiny_generator, mixed_state(tiny_generator, fine, (0, 0)))
    ws_a, bg_a = compose(tiny_generator, EditState(latent=Latent.from_seed(1)))
    ws_b, _ = compose(tiny_generator, EditState(latent=Latent.from_seed(2)))
    assert torch.equal(ws[:, : fine[0]], ws_a[:, : fine[0]])
    assert torch.equal(ws[:, fine[0] :], ws_b[:, fine[0] :])
    assert torch.equal(background, bg_a)  # the background network is mixed separately


def test_background_mixing_leaves_the_head_and_changes_only_the_background(tiny_generator):
    state = mixed_state(tiny_generator, (0, 0), (0, tiny_generator.background.num_ws))
    mixed = render_state(tiny_generator, state)
    plain = render_state(tiny_generator, state.replace(mixing=Mixing()))
    assert torch.equal(mixed["foreground"], plain["foreground"])
    assert not torch.allclose(mixed["background"], plain["background"])


def test_layer_groups_follow_stylegan_resolutions_for_a_256_backbone():
    network = SynthesisNetwork(8, 256, 3, 1024, 8)
    assert w_resolutions(network) == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 256]
    assert layer_groups(network) == {"coarse": (0, 3), "middle": (3, 7), "fine": (7, 14)}
    assert group_range(network, "middle", "fine") == (3, 14)


def test_tiny_networks_still_get_three_non_empty_groups(tiny_generator):
    groups = layer_groups(tiny_generator.synthesis)
    assert groups == {"coarse": (0, 1), "middle": (1, 3), "fine": (3, 6)}
    assert all(stop > start for start, stop in groups.values())


def test_out_of_range_mixing_layers_are_a_one_line_error(tiny_generator):
    with pytest.raises(ValueError, match="head mixing layer range 2-9 must lie within 0-6"):
        compose(tiny_generator, mixed_state(tiny_generator, (2, 9), (0, 0)))


def test_inverted_ws_mix_like_seeds(tiny_generator):
    ws_b, _ = compose(tiny_generator, EditState(latent=Latent.from_seed(2), psi=0.7))
    inverted = Latent.from_ws(ws_b, name="photo.png")  # explicit ws are final: psi does not touch them
    by_ws = mixed_state(tiny_generator, (0, 3), (0, 0)).replace(mixing=Mixing(inverted, (0, 3)))
    by_seed = mixed_state(tiny_generator, (0, 3), (0, 0))
    assert torch.equal(render_state(tiny_generator, by_ws)["image"], render_state(tiny_generator, by_seed)["image"])


def test_ws_from_another_model_shape_is_refused_by_name(tiny_generator):
    state = EditState(latent=Latent.from_ws(torch.zeros(1, 14, 32), name="me.safetensors"))
    with pytest.raises(
        ValueError, match=r"me.safetensors: ws of shape \[14, 32\] does not fit this model, which needs \[6, 32\]"
    ):
        compose(tiny_generator, state)


def test_truncation_cutoff_matches_the_mapping_networks(tiny_generator):
    with torch.no_grad():
        tiny_generator.mapping_network.w_avg.normal_()
    frontal = orbit_camera(0.0)
    expected = tiny_generator.mapping(seed_latent(5, tiny_generator.config.z_dim), frontal, psi=0.5, cutoff=2)
    ws, background = compose(tiny_generator, EditState(latent=Latent.from_seed(5), psi=0.5, cutoff=2))
    assert torch.equal(ws, expected)
    assert torch.equal(background, expected[:, : tiny_generator.background.num_ws])
