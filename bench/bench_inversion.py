"""Wall time of single-view inversion: stage 1 (latent optimisation) and stage 2 (pivotal tuning).

A randomly initialised generator of the chosen preset inverts its own frontal render (speed does not
depend on the weights). The perceptual loss is LPIPS when VGG16 weights are in the torch hub cache,
otherwise the fallback; ``--random-vgg`` times LPIPS with random VGG16 weights on offline machines.
The line printed says which, since LPIPS adds a VGG16 pass per step.

    python bench/bench_inversion.py --preset paper --steps 500 --pti-steps 350 --random-vgg --device cuda
    python bench/bench_inversion.py ... --precision fp32 --locality-every 1 --no-cuda-graphs   # the plain reference
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name
from panohead.config import preset
from panohead.devices import pick_device
from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.images import to_uint8
from panohead.inversion import SPACES, InversionSettings, Portrait, invert, perceptual_loss
from panohead.inversion.perceptual import LPIPS
from panohead.inversion.vgg import VGG16Features
from panohead.precision import OPTIMISATION
from panohead.views.camera import orbit_camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--pti-steps", type=int, default=350)
    parser.add_argument("--space", choices=SPACES, default="z")
    parser.add_argument("--precision", choices=OPTIMISATION, default=InversionSettings.precision)
    parser.add_argument("--locality-every", type=int, default=InversionSettings.locality_every)
    parser.add_argument("--no-cuda-graphs", action="store_true", help="eager steps (the reference)")
    parser.add_argument(
        "--random-vgg",
        action="store_true",
        help="time LPIPS with random VGG16 weights when the real ones are not cached (offline machines)",
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    generator = PanoHeadGenerator(preset(args.preset)).eval().requires_grad_(False).to(device)
    label = orbit_camera(0.0, device=device)
    with torch.no_grad():
        image = generator(seed_latent(1, generator.config.z_dim, device), label)["image"].clamp(-1, 1)
    portrait = Portrait(Image.fromarray(to_uint8(image[0])), label[0].cpu().numpy())
    settings = InversionSettings(
        space=args.space,
        steps=args.steps,
        pti_steps=args.pti_steps,
        precision=args.precision,
        locality_every=args.locality_every,
        cuda_graphs=not args.no_cuda_graphs,
    )
    if args.random_vgg:
        perceptual = LPIPS(VGG16Features().eval().requires_grad_(False)).to(device)
        perceptual.name = "lpips (random VGG16 weights: timing only)"
    else:
        perceptual = perceptual_loss(device=device)
    stamps: dict[str, list[float]] = {"latent": [], "pti": []}
    start = time.perf_counter()
    invert(generator, portrait, settings, perceptual, lambda p: stamps[p.stage].append(time.perf_counter()))
    total = time.perf_counter() - start
    # Each stage's time runs from the previous stage's last report (or the start) to its own last report.
    latent_end = stamps["latent"][-1] if stamps["latent"] else start
    latent_time = latent_end - start
    pti_time = (stamps["pti"][-1] - latent_end) if stamps["pti"] else 0.0
    res = generator.config.image_resolution
    print(
        f"device: {device_name(device)}  preset: {args.preset} ({res}x{res})  torch {torch.__version__}  "
        f"loss: {perceptual.name}  space: {args.space}  precision: {args.precision}  "
        f"locality every {args.locality_every}  "
        f"CUDA graphs: {'on' if device.type == 'cuda' and not args.no_cuda_graphs else 'off'}"
    )
    print(
        f"stage 1: {args.steps} steps {latent_time:.1f} s ({latent_time / max(args.steps, 1) * 1e3:.1f} ms/step, "
        f"includes the latent prior) | PTI: {args.pti_steps} steps {pti_time:.1f} s "
        f"({pti_time / max(args.pti_steps, 1) * 1e3:.1f} ms/step) | total {total:.1f} s (goal < 60 s)"
    )


if __name__ == "__main__":
    main()
