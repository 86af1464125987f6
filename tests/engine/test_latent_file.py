"""panohead.latent_file: one writer and one reader for the latent files every tool exchanges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panohead.checkpoint import save_tensors
from panohead.latent_file import LatentError, load_latent, read_latent, save_latent


def test_the_writer_keeps_ws_and_every_extra_exactly(tmp_path):
    ws = torch.randn(1, 6, 8, generator=torch.Generator().manual_seed(0))
    label = torch.arange(25, dtype=torch.float32)[None]
    save_latent(tmp_path / "head.npz", ws, label=label, space="w+", latent_loss=0.25, pti_loss=float("nan"), seed=3)
    arrays = read_latent(tmp_path / "head.npz")
    assert np.array_equal(arrays["ws"], ws.numpy()) and arrays["ws"].dtype == np.float32
    assert np.array_equal(arrays["label"], label.numpy()) and str(arrays["space"]) == "w+"
    assert float(arrays["latent_loss"]) == 0.25 and np.isnan(arrays["pti_loss"]) and int(arrays["seed"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["head.npz"]  # written atomically, no temporary left


def test_a_two_dimensional_ws_is_saved_with_its_batch_axis_and_fits_the_model(tmp_path):
    ws = np.random.default_rng(1).standard_normal((6, 8))
    save_latent(tmp_path / "a.npz", ws)
    assert read_latent(tmp_path / "a.npz")["ws"].shape == (1, 6, 8)
    assert torch.equal(load_latent(tmp_path / "a.npz", 6, 8, 4)["ws"], torch.from_numpy(ws.astype(np.float32))[None])


def test_the_reader_opens_our_safetensors_latents_too(tmp_path):
    ws = torch.linspace(-1, 1, 48).reshape(1, 6, 8)
    save_tensors(tmp_path / "head.safetensors", {"ws": ws, "label": torch.zeros(1, 25)}, "latent", {"space": "w+"})
    assert torch.equal(load_latent(tmp_path / "head.safetensors", 6, 8, 4)["ws"], ws)
    save_tensors(tmp_path / "other.safetensors", {"x": torch.zeros(2)}, "directions", {})
    with pytest.raises(LatentError, match=r"other\.safetensors: holds a 'directions', expected 'latent'"):
        read_latent(tmp_path / "other.safetensors")


def test_a_file_with_only_z_is_returned_as_z_for_the_caller_to_map(tmp_path):
    np.savez(tmp_path / "z.npz", z=np.ones(4, np.float32))
    assert load_latent(tmp_path / "z.npz", 6, 8, 4)["z"].shape == (1, 4)
    with pytest.raises(LatentError, match=r"z\.npz: 'z' has 4 numbers, this model needs 16"):
        load_latent(tmp_path / "z.npz", 6, 8, 16)


def test_bad_latent_files_are_one_line_naming_the_file(tmp_path):
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(LatentError, match=r"text\.npz: not a readable \.npz latent"):
        read_latent(tmp_path / "text.npz")
    with pytest.raises(LatentError, match=r"gone\.npz: latent file not found"):
        read_latent(tmp_path / "gone.npz")
    with pytest.raises(LatentError, match=r"head\.npy: latent files are written as \.npz"):
        save_latent(tmp_path / "head.npy", np.zeros((6, 8)))
