"""Several photos of one head inverted jointly: shared latent and tuned generator, per-photo cameras."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner
from inversion_helpers import calibrated_tiny_generator, psnr
from PIL import Image

from panohead.camera import label_to_orbit, orbit_label
from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.generator import seed_latent
from panohead.images import to_uint8
from panohead.inversion import InversionSettings, Portrait, invert
from panohead.inversion.cameras import MAX_TURN, CameraRefinement
from panohead.inversion.objective import render_view
from panohead.inversion.perceptual import StructuralLoss
from panohead.latent_file import read_latent

SETTINGS = InversionSettings(steps=10, pti_steps=10, pti_lr=3e-3, latent_samples=1000)
PHOTO_YAWS = (0.0, 90.0, 180.0)  # front, side, back
UNSEEN_YAW = 270.0  # the other side


def head_views(yaws, seed: int = 7) -> tuple[list[Portrait], torch.Tensor]:
    """8-bit portraits of one head of the tiny model at ``yaws`` (degrees) and their float images (N, 3, R, R)."""
    generator = calibrated_tiny_generator()
    labels = orbit_label(torch.tensor([math.radians(y) for y in yaws]), 0.0)
    with torch.no_grad():
        ws = generator.mapping(seed_latent(seed, generator.config.z_dim), orbit_label(0.0))
        images = render_view(generator, ws, labels).clamp(-1, 1)
    portraits = [
        Portrait(Image.fromarray(to_uint8(image)), label.numpy()) for image, label in zip(images, labels, strict=True)
    ]
    return portraits, images


@pytest.fixture(scope="module")
def unseen_scores():
    """PSNR at the unseen yaw of the joint inversion of the three photos and of each photo alone."""
    generator = calibrated_tiny_generator()
    portraits, _ = head_views(PHOTO_YAWS)
    _, truth = head_views((UNSEEN_YAW,))
    unseen = orbit_label(math.radians(UNSEEN_YAW), 0.0)
    joint = invert(generator, portraits, SETTINGS.replace(refine_cameras=True), StructuralLoss())
    singles = [invert(generator, portrait, SETTINGS, StructuralLoss()) for portrait in portraits]
    return psnr(joint.render(unseen), truth), [psnr(single.render(unseen), truth) for single in singles], joint


@pytest.mark.slow
def test_three_views_reconstruct_an_unseen_view_better_than_any_single_view(unseen_scores):
    joint, singles, _ = unseen_scores
    assert joint > max(singles) + 0.5, (joint, singles)


@pytest.mark.slow
def test_joint_result_holds_every_photo_camera_and_preview(unseen_scores):
    _, _, result = unseen_scores
    assert result.labels.shape == (3, 25) and result.preview.shape == (3, 3, 32, 32)
    assert torch.equal(result.label, result.labels[:1])
    orbit = label_to_orbit(result.labels)
    turned = torch.remainder(orbit.yaw - torch.tensor([0.0, math.pi / 2, math.pi]) + math.pi, 2 * math.pi) - math.pi
    assert turned.abs().max() <= MAX_TURN + 1e-5 and orbit.pitch.abs().max() <= MAX_TURN + 1e-5


def test_one_latent_seen_from_several_cameras_renders_like_one_latent_per_camera():
    generator = calibrated_tiny_generator()
    labels = orbit_label(torch.tensor([0.0, 1.0, 3.0]), 0.2)
    with torch.no_grad():
        ws = generator.mapping(seed_latent(3, generator.config.z_dim), orbit_label(0.0))
        shared = render_view(generator, ws, labels)
        separate = render_view(generator, ws.expand(3, -1, -1), labels)
    assert torch.allclose(shared, separate, atol=1e-5)


def test_camera_refinement_moves_cameras_along_the_orbit():
    yaws, pitches = torch.tensor([0.3, 2.0, -3.0]), torch.tensor([0.1, -0.2, 0.0])
    refinement = CameraRefinement(orbit_label(yaws, pitches), (0.0, 0.0, 0.2))
    assert torch.allclose(refinement(), orbit_label(yaws, pitches), atol=1e-6)
    turns = torch.tensor([[0.1, 0.05], [-0.2, 0.1], [0.05, -0.05]])
    with torch.no_grad():
        refinement.angles.copy_(turns)
    assert torch.allclose(refinement(), orbit_label(yaws + turns[:, 0], pitches + turns[:, 1]), atol=1e-6)
    with torch.no_grad():
        refinement.angles.fill_(1.0)
    refinement.clamp_()
    assert torch.all(refinement.angles == MAX_TURN)


def test_cli_inverts_several_photos_with_a_camera_each(tmp_path):
    checkpoint = tmp_path / "tiny.safetensors"
    save_generator(checkpoint, calibrated_tiny_generator())
    portraits, _ = head_views((0.0, 180.0))
    photos = []
    for index, portrait in enumerate(portraits):
        photos.append(tmp_path / f"view{index}.png")
        portrait.crop.save(photos[-1])
    args = ["invert", *map(str, photos), "-c", str(checkpoint), "--device", "cpu", "--video-frames", "0"]
    args += ["--steps", "2", "--pti-steps", "1", "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "--yaw", "0", "--yaw", "180"])
    assert result.exit_code == 0, result.output
    assert "view1.png: camera refined to yaw" in result.output
    latent = read_latent(tmp_path / "out" / "latent.npz")
    assert latent["cameras"].shape == (2, 25) and latent["label"].shape == (1, 25)
    result = CliRunner().invoke(main, [*args, "--yaw", "0"])
    assert result.exit_code == 2 and "--yaw given 1 times for 2 photos" in result.output


def test_camera_refinement_keeps_every_tensor_on_the_labels_device():
    """On a GPU a buffer left on the CPU broke every refined inversion at its first step (the look-at
    pivot was made on the CPU); the meta device shows the same placement without a GPU."""
    labels = orbit_label(torch.tensor([0.3, 2.0]), torch.tensor([0.1, -0.2])).to("meta")
    refinement = CameraRefinement(labels, (0.0, 0.0, 0.2))
    placed = {
        name: tensor.device.type for name, tensor in [*refinement.named_buffers(), *refinement.named_parameters()]
    }
    assert set(placed.values()) == {"meta"}, placed
    assert refinement().device.type == "meta"
