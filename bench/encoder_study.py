"""Encoder inversion study: encoder only, encoder + refinement, today's optimisation, and 1 vs 3 photos.

Held-out heads are samples of the model itself (seeds from ``--first-seed``, psi ``--psi``, conditioned on
the frontal camera), so the truth is known from every side. Each method inverts 8-bit renders of a head
and we score renders of the result against the truth at four views: front (yaw 0, the single photo),
side (90), back (180) and the other side (270). The three-photo method sees front, side and back, so
only the other side is unseen by it. Scores: PSNR (dB) and the inversion's perceptual distance
(LPIPS when its weights are on disk, else ms-ssim+gradient; lower is better); time: seconds per head.

    python -m bench.encoder_study --encoder checkpoints/encoder_small.safetensors --device cuda
    python -m bench.encoder_study --model tiny --train-steps 300 --device cpu      # the CPU study in docs

``--model tiny`` uses the tests' calibrated tiny generator and first trains an encoder for it
(``--train-steps`` steps of :class:`panohead.training.encoder.EncoderTrainer`), so the study runs on a CPU
in minutes; its heads are random-network blobs, not faces, so only the comparisons mean anything.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from bench.common import device_name
from panohead.checkpoint import load_generator, save_generator
from panohead.devices import pick_device
from panohead.generator import seed_latent
from panohead.images import to_uint8
from panohead.inversion import InversionSettings, Portrait, invert, perceptual_loss
from panohead.inversion.encoder import EncoderConfig, bundled_encoder, check_generator, load_encoder
from panohead.inversion.objective import render_view
from panohead.inversion.settings import default_steps
from panohead.model_source import ModelSource
from panohead.views.camera import frontal_camera, orbit_camera

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VIEWS = {"front": 0.0, "side": 90.0, "back": 180.0, "other side": 270.0}
PHOTOS = {"1 photo": ("front",), "3 photos": ("front", "side", "back")}
METHODS = ("encoder", "encoder + refinement", "optimisation", "encoder + refinement (3 photos)")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    return 10 * math.log10(4.0 / max(float((a - b).square().mean()), 1e-12))


def as_photo(image: torch.Tensor) -> torch.Tensor:
    """An image (3, R, R) as an 8-bit photo holds it, back in [-1, 1]."""
    return torch.from_numpy(to_uint8(image).astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def tiny_model_and_encoder(steps: int, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """The tests' calibrated tiny generator and an encoder trained for it here (``steps`` steps of batch 8)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from inversion_helpers import calibrated_tiny_generator

    from panohead.training.encoder import EncoderOptions, EncoderRun, EncoderTrainer

    folder = tempfile.mkdtemp(prefix="encoder-study-")
    checkpoint = os.path.join(folder, "tiny.safetensors")
    save_generator(checkpoint, calibrated_tiny_generator())
    options = EncoderOptions(steps=steps, batch=8, lr=1e-3, snapshot_every=steps, log_every=max(steps // 10, 1))
    config = EncoderConfig(num_ws=6, w_dim=32, resolution=32, widths=(32, 64, 128), hidden=256)
    started = time.perf_counter()
    trainer = EncoderTrainer(EncoderRun(checkpoint, folder, options, device=str(device), config=config))
    trainer.run()
    print(f"encoder: {steps} steps of batch 8 in {time.perf_counter() - started:.0f} s ({folder})", file=sys.stderr)
    return load_generator(checkpoint, device), trainer.encoder.eval().requires_grad_(False), f"{folder}/encoder"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--encoder", default=None, help="default: the bundled model's encoder")
    parser.add_argument("--model", choices=("checkpoint", "tiny"), default="checkpoint")
    parser.add_argument("--train-steps", type=int, default=300, help="encoder steps for --model tiny")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    parser.add_argument("--heads", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=100_000)
    parser.add_argument("--psi", type=float, default=0.7)
    parser.add_argument(
        "--steps", type=int, default=None, help="refinement steps (default: the device's from an encoder)"
    )
    parser.add_argument("--pti-steps", type=int, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")

    device = pick_device(args.device)
    if args.model == "tiny":
        generator, encoder, encoder_source = tiny_model_and_encoder(args.train_steps, device)
        source = "calibrated tiny generator (tests/inversion_helpers.py)"
    else:
        model = ModelSource.parse(args.checkpoint)
        generator, source = model.open(device), model.describe()
        encoder = load_encoder(args.encoder, device) if args.encoder else bundled_encoder(generator, device)
        if encoder is None:
            parser.error("no encoder: give --encoder (panohead train-encoder) or use --model tiny")
        check_generator(encoder, generator, args.encoder or "bundled encoder")
        encoder_source = args.encoder or "bundled"
    generator.eval().requires_grad_(False)
    steps, pti_steps = default_steps(device.type, encoder=True)
    steps, pti_steps = args.steps if args.steps is not None else steps, args.pti_steps or pti_steps
    baseline = default_steps(device.type)
    settings = {
        "encoder": InversionSettings(space="w+", steps=0, pti_steps=0),
        "encoder + refinement": InversionSettings(space="w+", steps=steps, pti_steps=pti_steps),
        "optimisation": InversionSettings(space="z", steps=baseline[0], pti_steps=baseline[1]),
        "encoder + refinement (3 photos)": InversionSettings(
            space="w+", steps=steps, pti_steps=pti_steps, refine_cameras=True
        ),
    }
    perceptual = perceptual_loss(device=device)
    cameras = orbit_camera(torch.tensor(list(VIEWS.values())), 0.0, generator)
    scores = {(m, v): [] for m in methods for v in VIEWS}
    seconds = {m: [] for m in methods}
    for head in range(args.heads):
        with torch.no_grad():
            z = seed_latent(args.first_seed + head, generator.config.z_dim, device)
            ws = generator.mapping(z, frontal_camera(generator), psi=args.psi)
            truth = torch.stack([as_photo(image) for image in render_view(generator, ws, cameras)]).to(device)
        for method in methods:
            names = PHOTOS["3 photos" if "3 photos" in method else "1 photo"]
            portraits = [
                Portrait(
                    Image.fromarray(to_uint8(truth[list(VIEWS).index(n)])), cameras[list(VIEWS).index(n)].cpu().numpy()
                )
                for n in names
            ]
            started = time.perf_counter()
            result = invert(
                generator,
                portraits,
                settings[method],
                perceptual,
                encoder=encoder if method.startswith("encoder") else None,
            )
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[method].append(time.perf_counter() - started)
            with torch.no_grad():
                renders = result.render(cameras).clamp(-1, 1)
                distances = perceptual(renders, truth)
            for index, view in enumerate(VIEWS):
                scores[method, view].append((psnr(renders[index], truth[index]), float(distances[index])))
        done = "; ".join(
            f"{m}: " + " ".join(f"{scores[m, v][-1][0]:.2f}" for v in VIEWS) + f" dB, {seconds[m][-1]:.0f} s"
            for m in methods
        )
        print(f"head {head}: {done}", file=sys.stderr)

    res = generator.config.image_resolution
    print(
        f"Model: {source} ({res}x{res}); encoder: {encoder_source}; {args.heads} held-out samples "
        f"(seeds {args.first_seed}-{args.first_seed + args.heads - 1}, psi {args.psi}); refinement {steps} + "
        f"{pti_steps} steps (w+), optimisation {baseline[0]} + {baseline[1]} steps (z); perceptual distance "
        f"{perceptual.name}; {device_name(device)}.\n"
    )
    print("| method | " + " | ".join(f"{v} (yaw {y:g})" for v, y in VIEWS.items()) + " | s per head |")
    print("| --- |" + " --- |" * (len(VIEWS) + 1))
    for method in methods:
        seen = PHOTOS["3 photos" if "3 photos" in method else "1 photo"]
        cells = []
        for view in VIEWS:
            value, distance = np.mean(scores[method, view], axis=0)
            cells.append(f"{value:.2f} / {distance:.3f}{'' if view in seen else ' *'}")
        print(f"| {method} | " + " | ".join(cells) + f" | {np.mean(seconds[method]):.1f} |")
    print("\nCells: PSNR (dB) / perceptual distance; * = a view the method never saw.")


if __name__ == "__main__":
    main()
