"""Full synthesis vs cached-plane orbit rendering of a randomly initialised generator.

Reference path: plain fp32 eager, everything recomputed per frame (map, tri-grid, background, render,
super-resolution). Orbit path: mapping, tri-grid and background cached, only the new camera rendered.

    python bench/bench_render.py --preset paper --batch 1 8 --device auto
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name, time_call
from panohead.config import preset
from panohead.devices import pick_device
from panohead.generator import PanoHeadGenerator
from panohead.views.camera import orbit_camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    generator = PanoHeadGenerator(preset(args.preset)).eval().requires_grad_(False).to(device)
    print(f"device: {device_name(device)}  preset: {args.preset}  torch {torch.__version__}")
    for batch in args.batch:
        bench_batch(generator, batch, device, args.repeats)


def bench_batch(generator: PanoHeadGenerator, batch: int, device: torch.device, repeats: int) -> None:
    """One row: full synthesis, cached-plane orbit and super-resolution alone at this batch size."""
    cfg = generator.config
    z = torch.randn(batch, cfg.z_dim, device=device)
    front = orbit_camera(torch.zeros(batch), device=device)
    side = orbit_camera(torch.full((batch,), 90.0), device=device)
    with torch.inference_mode():
        ws = generator.mapping(z, front, psi=0.7)
        planes = generator.synthesize_planes(ws)
        background = generator.synthesize_background(ws)

        def full_synthesis():
            ws_new = generator.mapping(z, front, psi=0.7)
            generator.render(
                generator.synthesize_planes(ws_new),
                ws_new,
                side,
                background=generator.synthesize_background(ws_new),
            )

        def orbit():
            generator.render(planes, ws, side, background=background)

        def superres_only():
            generator.superres(
                torch.zeros(batch, 3, cfg.neural_resolution, cfg.neural_resolution, device=device),
                torch.zeros(batch, cfg.plane_channels, cfg.neural_resolution, cfg.neural_resolution, device=device),
                ws,
            )

        t_full = time_call(full_synthesis, device, repeats=repeats)
        t_orbit = time_call(orbit, device, repeats=repeats)
        t_sr = time_call(superres_only, device, repeats=repeats)
    print(
        f"batch {batch}: full synthesis {t_full * 1e3:8.1f} ms ({batch / t_full:6.1f} img/s) | "
        f"orbit (cached tri-grid) {t_orbit * 1e3:8.1f} ms ({batch / t_orbit:6.1f} img/s) | "
        f"super-resolution alone {t_sr * 1e3:7.1f} ms | orbit speed-up vs reference {t_full / t_orbit:4.2f}x"
    )


if __name__ == "__main__":
    main()
