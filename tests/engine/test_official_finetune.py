"""Fine-tuning starts from an official snapshot's generators and discriminator (directly or converted)."""

from __future__ import annotations

import pytest
import torch
from official_pickles import PANOHEAD_TINY, TINY_D, random_generator, snapshot_bytes
from tiny_heads import write_tiny_dataset

from panohead.checkpoint import CheckpointError
from panohead.official import convert_official
from panohead.training.discriminator import TriDiscriminator
from panohead.training.loop import RunSpec, Trainer
from panohead.training.options import training_preset


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    folder = tmp_path_factory.mktemp("official")
    torch.manual_seed(5)
    D = TriDiscriminator(TINY_D).eval()
    G = random_generator(PANOHEAD_TINY, seed=6)
    path = folder / "network-snapshot-000400.pkl"
    path.write_bytes(snapshot_bytes(G, D=D))
    return path, G, D


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def spec(dataset, outdir, **changes) -> RunSpec:
    config, options = training_preset("tiny", kimg=0.004, snap_kimg=0.004, tick_kimg=0.004)
    return RunSpec(data=str(dataset), outdir=str(outdir), config=config, options=options, device="cpu", **changes)


@pytest.mark.parametrize("converted", [False, True])
def test_finetuning_starts_from_the_official_generators_and_discriminator(official, dataset, tmp_path, converted):
    path, G, D = official
    if converted:
        path = tmp_path / "converted.safetensors"
        convert_official(official[0], path)
    trainer = Trainer(spec(dataset, tmp_path / "run", finetune=str(path)))
    assert trainer.config == PANOHEAD_TINY and trainer.D.config == TINY_D
    assert torch.equal(trainer.G_ema.synthesis.blocks["16"].conv1.weight, G.synthesis.blocks["16"].conv1.weight)
    assert torch.equal(trainer.D.epilogue.fc.weight, D.epilogue.fc.weight)


def test_a_converted_official_snapshot_cannot_be_resumed(official, dataset, tmp_path):
    target = tmp_path / "snapshot-000000004.safetensors"
    convert_official(official[0], target)
    with pytest.raises(CheckpointError, match="converted from an official snapshot, it holds no training state"):
        Trainer(spec(dataset, tmp_path, resume=str(target)))
