"""Synthetic head rendering throughput (images/s), rendering alone and end to end (PNG encoding + writing,
which overlap the rendering of the next batches; with --gpus N the batches go to N GPUs in turn).

python bench/bench_synth.py --device auto --resolution 128 --batch 16 256
python bench/bench_synth.py --device cuda --resolution 256 --batch 64 256 --write-count 4096 --gpus 1
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name, time_call
from panohead.data.synth import SynthSettings, synthesize, write_synthetic_dataset
from panohead.devices import pick_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch", type=int, nargs="+", default=[16])
    parser.add_argument("--supersample", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--write-count", type=int, default=0, help="Also time writing this many images to a temp folder."
    )
    parser.add_argument("--gpus", type=int, default=1, help="GPUs to write with (cuda:0..N-1; --device cuda).")
    args = parser.parse_args()

    device = pick_device(args.device)
    settings = SynthSettings(resolution=args.resolution, supersample=args.supersample)
    print(
        f"device: {device_name(device)}  resolution {args.resolution}  supersample {args.supersample}  "
        f"torch {torch.__version__}"
    )
    for batch in args.batch:
        seconds = render_seconds(batch, settings, device, args.repeats)
        print(f"batch {batch:4d}: {seconds * 1000:8.1f} ms per batch, {batch / seconds:8.1f} images/s (rendering only)")
    if args.write_count:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            devices = [torch.device("cuda", index) for index in range(args.gpus)] if args.gpus > 1 else [device]
            write_synthetic_dataset(
                os.path.join(folder, "heads"), args.write_count, 0, settings, devices, max(args.batch)
            )
            seconds = time.perf_counter() - start
        print(
            f"wrote {args.write_count} images (batch {max(args.batch)}, {len(devices)} device(s)) in {seconds:.1f} s: "
            f"{args.write_count / seconds:.1f} images/s end to end"
        )


def render_seconds(batch: int, settings: SynthSettings, device: torch.device, repeats: int) -> float:
    """Median seconds to render one batch of heads (no encoding or writing)."""
    counter = itertools.count()

    def render():
        start = next(counter) * batch  # new heads every call, like a real run
        with torch.no_grad():
            synthesize(0, range(start, start + batch), settings, device)

    return time_call(render, device, warmup=1, repeats=repeats)


if __name__ == "__main__":
    main()
