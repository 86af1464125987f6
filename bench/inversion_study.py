"""Quality of single-view inversion on held-out synthetic heads whose every side is known.

Two sources of heads, each rendered at yaw 0 (the input) and yaw 180 (the back, never seen by the
inversion):

* ``synth`` (default): procedural heads of the synthetic dataset tool (:mod:`panohead.data.synth`)
  from dataset seed ``--synth-seed`` (1; the bundled model was trained on seed 0), i.e. heads the
  model never saw, with their exact cameras and backgrounds;
* ``samples``: samples of the checkpoint itself (seeds from ``--first-seed``, psi ``--psi``), which
  the model can represent exactly: an upper bound.

We invert the 8-bit frontal image at its known camera and compare renders of the result with the
truth at both views, stage 1 alone and stage 1 + PTI. Prints a markdown table (the one in
docs/inversion.md) and writes a figure: per head, input | stage 1 | +PTI | true back | stage 1 back |
+PTI back.

    python bench/inversion_study.py --source synth --heads 8 --steps 500 --pti-steps 350 --device auto \\
        --figure docs/images/inversion_study.png
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name
from panohead.cli.common import open_generator
from panohead.data.synth import SynthSettings, synthesize
from panohead.generator import seed_latent
from panohead.images import image_grid, save_image, to_uint8
from panohead.inversion import SPACES, InversionSettings, Portrait, invert, perceptual_loss
from panohead.views.camera import orbit_camera

VIEWS = {"input (yaw 0)": 0.0, "back (yaw 180)": 180.0}
STAGES = {"stage 1": "latent", "stage 1 + PTI": "final"}


def scores(result: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of two (H, W, 3) uint8 images."""
    return (
        peak_signal_noise_ratio(truth, result, data_range=255),
        structural_similarity(truth, result, channel_axis=-1, data_range=255),
    )


def held_out_head(
    generator, cameras: dict[str, torch.Tensor], args: argparse.Namespace, head: int
) -> dict[str, np.ndarray]:
    """Ground-truth (R, R, 3) uint8 images of head number ``head`` at every view in ``cameras``."""
    cfg, device = generator.config, generator.device
    if args.source == "synth":
        settings = SynthSettings(resolution=cfg.image_resolution, supersample=2)
        return {
            view: to_uint8(synthesize(args.synth_seed, [head], settings, device, yaw=yaw, pitch=0.0).images[0])
            for view, yaw in VIEWS.items()
        }
    with torch.no_grad():
        ws = generator.mapping(
            seed_latent(args.first_seed + head, cfg.z_dim, device), cameras["input (yaw 0)"], psi=args.psi
        )
        planes = generator.synthesize_planes(ws)
        return {view: to_uint8(generator.render(planes, ws, camera)["image"][0]) for view, camera in cameras.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model (untrained small if absent)")
    parser.add_argument("--source", choices=("synth", "samples"), default="synth")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--synth-seed", type=int, default=1, help="dataset seed of the procedural heads")
    parser.add_argument("--first-seed", type=int, default=100_000, help="first generator seed (--source samples)")
    parser.add_argument("--psi", type=float, default=0.7, help="truncation of generator samples")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--pti-steps", type=int, default=350)
    parser.add_argument("--space", choices=SPACES, default="z")
    parser.add_argument(
        "--locality-every",
        type=int,
        default=InversionSettings.locality_every,
        help="PTI locality regulariser on every N-th step",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--figure", default=None, help="PNG of the renders (first 4 heads)")
    args = parser.parse_args()

    generator, device, source = open_generator(args.checkpoint, args.device)
    cfg = generator.config
    cameras = {name: orbit_camera(yaw, 0.0, cfg, device=device) for name, yaw in VIEWS.items()}
    settings = InversionSettings(
        space=args.space, steps=args.steps, pti_steps=args.pti_steps, locality_every=args.locality_every
    )
    perceptual = perceptual_loss(device=device)
    table = {(view, stage): [] for view in VIEWS for stage in STAGES}
    rows, started = [], time.perf_counter()
    for head in range(args.heads):
        truth = held_out_head(generator, cameras, args, head)
        portrait = Portrait(Image.fromarray(truth["input (yaw 0)"]), cameras["input (yaw 0)"][0].cpu().numpy())
        result = invert(generator, portrait, settings, perceptual)
        renders = {}
        for view, camera in cameras.items():
            for stage, which in STAGES.items():
                renders[view, stage] = to_uint8(result.render(camera, which)[0])
                table[view, stage].append(scores(renders[view, stage], truth[view]))
        if head < 4:
            rows += [
                truth["input (yaw 0)"],
                renders["input (yaw 0)", "stage 1"],
                renders["input (yaw 0)", "stage 1 + PTI"],
                truth["back (yaw 180)"],
                renders["back (yaw 180)", "stage 1"],
                renders["back (yaw 180)", "stage 1 + PTI"],
            ]
        print(f"head {head}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    res = cfg.image_resolution
    heads = (
        f"procedural heads 0-{args.heads - 1} of synthetic dataset seed {args.synth_seed}"
        if args.source == "synth"
        else f"generator samples, seeds {args.first_seed}-{args.first_seed + args.heads - 1}, psi {args.psi}"
    )
    print(
        f"Checkpoint: {source}; {args.heads} {heads}; space {args.space}, {args.steps} latent + {args.pti_steps} "
        f"PTI steps; loss {perceptual.name}; "
        f"{res}x{res}; {device_name(device)}; {time.perf_counter() - started:.0f} s in all.\n"
    )
    print("| view | stage | PSNR (dB) | SSIM |")
    print("| --- | --- | --- | --- |")
    for (view, stage), values in table.items():
        psnr, ssim = np.mean(values, axis=0)
        print(f"| {view} | {stage} | {psnr:.2f} | {ssim:.3f} |")
    if args.figure:
        save_image(args.figure, image_grid(rows, 6))
        print(
            f"\nfigure: {args.figure} (rows: heads; columns: input, stage 1, +PTI, true back, stage 1 back, +PTI back)"
        )


if __name__ == "__main__":
    main()
