"""The inversion encoder: training on the generator's own samples, compact snapshots, resume, files."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from click.testing import CliRunner
from inversion_helpers import calibrated_tiny_generator
from PIL import Image

from panohead.checkpoint import CheckpointError, save_generator
from panohead.cli import main
from panohead.generator import seed_latent
from panohead.images import to_uint8
from panohead.inversion import InversionSettings, Portrait, invert, target_tensor
from panohead.inversion.encoder import EncoderConfig, check_generator, encode, encoder_for, load_encoder, save_encoder
from panohead.inversion.latent import latent_prior, optimise_latent
from panohead.inversion.perceptual import StructuralLoss
from panohead.inversion.pipeline import portrait_objective
from panohead.training.encoder import EncoderOptions, EncoderRun, EncoderTrainer, sample_heads

SMALL = EncoderConfig(num_ws=6, w_dim=32, resolution=32, widths=(16, 32, 64), hidden=64)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(path, calibrated_tiny_generator())
    return str(path)


def make_trainer(checkpoint: str, outdir, resume=None, **changes) -> EncoderTrainer:
    options = EncoderOptions(**{"steps": 6, "batch": 2, "lr": 3e-3, "snapshot_every": 3, "log_every": 1, **changes})
    return EncoderTrainer(EncoderRun(checkpoint, str(outdir), options, device="cpu", resume=resume, config=SMALL))


def held_out_loss(trainer: EncoderTrainer) -> float:
    """The training loss on 4 fixed heads that no training step draws (seed 10**6)."""
    batch = sample_heads(trainer.generator, trainer.encoder.w_avg, 4, trainer.options, 10**6)
    with torch.no_grad():
        return trainer.loss(trainer.encoder, batch)[1]["loss"]


def test_untrained_encoder_predicts_the_mean_head(tiny_checkpoint):
    generator = calibrated_tiny_generator()
    encoder = encoder_for(generator, SMALL)
    ws = encoder(torch.randn(3, 3, 32, 32), torch.randn(3, 25))
    assert ws.shape == (3, 6, 32)
    assert torch.equal(ws, encoder.w_avg[:, None].expand(3, 6, -1))


@pytest.fixture(scope="module")
def trained(tiny_checkpoint, tmp_path_factory):
    """An encoder trained for 12 steps of 2 heads, and its held-out loss before training."""
    trainer = make_trainer(tiny_checkpoint, tmp_path_factory.mktemp("trained"), steps=12, snapshot_every=100)
    before = held_out_loss(trainer)
    trainer.run()
    trainer.encoder.eval()
    return trainer, before


@pytest.mark.slow
def test_a_few_training_steps_reduce_the_loss(trained):
    trainer, before = trained
    after = held_out_loss(trainer)
    assert after < 0.95 * before, (before, after)


@pytest.mark.slow
def test_inversion_from_the_encoder_start_beats_a_random_start_at_equal_steps(trained):
    trainer, _ = trained
    generator = copy.deepcopy(trainer.generator)
    heads = sample_heads(generator, trainer.encoder.w_avg, 2, trainer.options, 10**6 + 1)
    settings = InversionSettings(space="w+", steps=4, pti_steps=0, latent_samples=1000)
    for index, (image, camera) in enumerate(zip(heads.images, heads.cameras, strict=True)):
        portrait = Portrait(Image.fromarray(to_uint8(image)), camera.numpy())
        labels, objective = portrait_objective(generator, portrait, settings, StructuralLoss())
        prior = latent_prior(generator, labels, settings.latent_samples, settings.seed)
        with torch.no_grad():
            random_head = generator.mapping(seed_latent(500 + index, generator.config.z_dim), labels)
        starts = {"encoder": encode(trainer.encoder, objective.target, labels), "random": random_head}
        losses = {
            name: optimise_latent(copy.deepcopy(generator), objective, labels, settings, prior, start=start).best.value
            for name, start in starts.items()
        }
        assert losses["encoder"] < losses["random"], losses


@pytest.mark.slow
def test_invert_starts_from_the_encoder_and_shows_its_prediction(trained):
    trainer, _ = trained
    heads = sample_heads(trainer.generator, trainer.encoder.w_avg, 1, trainer.options, 10**6 + 2)
    portrait = Portrait(Image.fromarray(to_uint8(heads.images[0])), heads.cameras[0].numpy())
    settings = InversionSettings(space="w+", steps=0, pti_steps=0, latent_samples=1000)
    result = invert(trainer.generator, portrait, settings, StructuralLoss(), encoder=trainer.encoder)
    predicted = encode(trainer.encoder, target_tensor(portrait.crop, 32), result.labels)
    assert torch.equal(result.ws, predicted)  # no step taken: the result is the encoder's prediction
    assert torch.equal(result.start_preview, result.preview)
    with pytest.raises(ValueError, match="needs the w or w\\+ space"):
        invert(trainer.generator, portrait, settings.replace(space="z", steps=1), encoder=trainer.encoder)


@pytest.mark.slow
def test_resume_continues_the_same_run(tiny_checkpoint, tmp_path):
    whole = make_trainer(tiny_checkpoint, tmp_path / "whole")
    whole.run()
    first = make_trainer(tiny_checkpoint, tmp_path / "split", steps=3)
    first.run()
    heads = sorted((tmp_path / "split").glob("compact-*-part1of*.safetensors"))
    assert [h.name.split("-")[1] for h in heads] == ["000000006"]
    halfway = torch.cat([p.detach().flatten() for p in first.encoder.parameters()])
    second = make_trainer(tiny_checkpoint, tmp_path / "split", resume="auto")
    assert second.progress.step == 3
    second.run()
    # The compact snapshot rounds weights to float16 (2**-11 relative) and Adam moments to bfloat16, so
    # the resumed run ends near the uninterrupted one, not exactly on it: much nearer than its last 3 steps went.
    resumed, uninterrupted = (torch.cat([p.flatten() for p in t.encoder.parameters()]) for t in (second, whole))
    assert (resumed - uninterrupted).norm() < 0.05 * (uninterrupted - halfway).norm()

    def losses(folder):
        records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        return {r["step"]: r["loss"] for r in records if r["event"] == "tick"}

    whole_losses, split_losses = losses(tmp_path / "whole"), losses(tmp_path / "split")
    assert sorted(split_losses) == list(range(1, 7))
    for step in range(1, 7):
        assert split_losses[step] == pytest.approx(whole_losses[step], rel=2e-2), step


def test_encoder_file_round_trip_and_wrong_model(tmp_path):
    generator = calibrated_tiny_generator()
    encoder = encoder_for(generator, SMALL)
    with torch.no_grad():
        encoder.offsets.bias.normal_()
    save_encoder(tmp_path / "e.safetensors", encoder)
    loaded = load_encoder(tmp_path / "e.safetensors")
    photos, cameras = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 25)
    assert torch.allclose(loaded(photos, cameras), encoder(photos, cameras), atol=2e-3)
    check_generator(loaded, generator, "e.safetensors")
    other = encoder_for(generator, SMALL)
    other.generator_fingerprint = "0" * 64
    with pytest.raises(ValueError, match="trained for another model"):
        check_generator(other, generator, "e.safetensors")
    save_generator(tmp_path / "g.safetensors", generator)
    with pytest.raises(CheckpointError, match="expected 'encoder'"):
        load_encoder(tmp_path / "g.safetensors")


def test_cli_trains_resumes_and_refuses_a_gan_snapshot(tiny_checkpoint, tmp_path):
    run = tmp_path / "run"
    args = ["train-encoder", "-c", tiny_checkpoint, "-o", str(run), "--device", "cpu", "--batch", "2"]
    result = CliRunner().invoke(main, [*args, "--steps", "2", "--snapshot-every", "1"])
    assert result.exit_code == 0, result.output
    assert (run / "encoder.safetensors").is_file()
    result = CliRunner().invoke(main, [*args, "--steps", "3", "--resume", "auto"])
    assert result.exit_code == 0, result.output
    starts = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in starts if r["event"] == "start"] == [0, 2]
    assert load_encoder(run / "encoder.safetensors").config.num_ws == 6
