"""Time coloured mesh extraction (issue 7 goals: 256^3 paper config on one H100 < 5 s; 128^3 on 2 CPU cores < 60 s).

    python bench/bench_mesh.py --config small --resolution 128 --device cpu
    python bench/bench_mesh.py --config paper --resolution 256 --device cuda

Untrained models (every preset until a checkpoint is given) have an almost constant density, so
the threshold is set to the density quantile that fills --solid of the box (a head fills ~15%):
the surface is as large as a head's or larger (random fields are bumpy), an honest worst case.
With --checkpoint the default threshold is used. Times exclude model loading and the tri-grid
synthesis (reported separately); "extract" is sampling + marching cubes + largest component +
vertex colours, "write" saves the .ply.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import benchmark_model
from panohead.devices import pick_device
from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import DEFAULT_THRESHOLD, mesh_from_density, sample_density, save_mesh


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="preset for an untrained model (paper, small, tiny)")
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of --config")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solid", type=float, default=0.15, help="box fraction inside the surface (untrained models)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    generator, name = benchmark_model(args.checkpoint, args.config, device)
    start = time.perf_counter()
    head = head_from_seed(generator, args.seed)
    synchronize(device)
    synthesis = time.perf_counter() - start
    field = HeadField(generator, head)

    threshold = DEFAULT_THRESHOLD
    if not args.checkpoint:
        threshold = float(np.quantile(sample_density(field, args.resolution).values, 1.0 - args.solid))
    mesh_from_density(sample_density(field, 32), field, threshold)  # warm-up (CUDA kernels, allocator)

    timings = []
    for _ in range(args.repeats):
        synchronize(device)
        start = time.perf_counter()
        grid = sample_density(field, args.resolution)
        sampled = time.perf_counter()
        mesh = mesh_from_density(grid, field, threshold)
        synchronize(device)
        extracted = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            save_mesh(mesh, Path(folder) / "head.ply")
        written = time.perf_counter()
        timings.append((sampled - start, extracted - sampled, extracted - start, written - extracted))
    sample_s, mesh_s, extract_s, write_s = np.median(np.array(timings), axis=0)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"model {name}, {where}, {args.resolution}^3, threshold {threshold:.4g}, tri-grid synthesis {synthesis:.2f} s"
    )
    print(
        f"median of {args.repeats}: sample density {sample_s:.2f} s + surface and colours {mesh_s:.2f} s "
        f"= extract {extract_s:.2f} s; write .ply {write_s:.2f} s; "
        f"{len(mesh.vertices)} vertices, {len(mesh.faces)} faces"
    )


if __name__ == "__main__":
    main()
