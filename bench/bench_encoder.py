"""Latency of the encoder preview: a photo in, the head at the photo's camera out (issue 24: under 100 ms
on one H200 at 512x512 with the paper config, under 2 s on a CPU with the bundled model).

The preview is what the Invert panel shows as soon as a photo is aligned: one forward pass of the
encoder (photo + camera -> w+), then the new head's tri-grid, background and full-quality frame at the
photo's camera through the viewer's staged renderer (:class:`panohead.fast.FastRenderer`: CUDA graphs
on a GPU, empty-space skipping on a CPU). The reference, timed in the same run, is the same frame of a
new seed (mapping instead of the encoder), i.e. what the viewer does for any new head: the ratio says
what the encoder adds. Speed does not depend on the weights,
so ``random:PRESET`` models are timed with an untrained encoder when they have none; a real model uses
its own encoder (the bundled one, or ``--encoder``).

    python bench/bench_encoder.py --model random:paper --device cuda    # issue 24's H200 target
    python bench/bench_encoder.py --device cpu                           # the bundled model and its encoder
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name, time_call
from panohead.devices import pick_device
from panohead.fast import FastRenderer
from panohead.generator import seed_latent
from panohead.inversion.encoder import encode, encoder_for, open_encoder
from panohead.model_source import ModelSource
from panohead.precision import Precision
from panohead.views.camera import frontal_camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled", help="bundled, random:PRESET or a checkpoint file")
    parser.add_argument("--encoder", default=None, help="encoder file (default: the model's own, else untrained)")
    parser.add_argument(
        "--precision", default="fp32", help="precision scope of the timed calls (fp32, tf32, bf16, ...)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    device = pick_device(args.device)
    model = ModelSource.parse(args.model)
    generator = model.open(device)
    encoder, origin = open_encoder(generator, args.encoder, model.kind == "bundled", device)
    if encoder is None:
        encoder, origin = encoder_for(generator), "untrained (same cost)"
    precision = Precision.parse(args.precision)
    resolution = generator.config.image_resolution
    camera = frontal_camera(generator)  # (1, 25)
    photo = torch.rand(1, 3, resolution, resolution, device=device) * 2 - 1
    z = seed_latent(0, generator.config.z_dim, device)

    fast = FastRenderer(generator, precision, skip_empty=device.type == "cpu", cuda_graph=device.type == "cuda")

    def frame(ws: torch.Tensor) -> torch.Tensor:
        return fast.orbit(fast.planes(ws), ws, camera, fast.background(ws))

    def preview() -> None:
        with torch.no_grad():
            frame(encode(encoder, photo, camera))

    def seed_render() -> None:
        with torch.no_grad():
            frame(fast.mapping(z, camera))

    with precision.scope(device), torch.no_grad():
        encode_s = time_call(lambda: encode(encoder, photo, camera), device, repeats=args.repeats)
    preview_s = time_call(preview, device, repeats=args.repeats)
    reference_s = time_call(seed_render, device, repeats=args.repeats)
    print(f"{model.describe()}, {resolution}x{resolution}; encoder: {origin}; {precision.name}; {device_name(device)}")
    print("| measure | ms |\n| --- | --- |")
    print(f"| encoder forward | {encode_s * 1e3:.1f} |")
    print(f"| preview (encoder + new head + frame at the photo's camera) | {preview_s * 1e3:.1f} |")
    print(f"| reference: a new seed (mapping + new head + frame) | {reference_s * 1e3:.1f} |")
    print(f"preview / reference: {preview_s / reference_s:.2f}x")


if __name__ == "__main__":
    main()
