"""Time the seed browser: seconds to the first page of scored thumbnails, then seeds per second.

    python bench/bench_browser.py --device cpu                       # the bundled model
    python bench/bench_browser.py --device cuda --preset paper --seeds 1000

Every seed is rendered from four yaws at the neural resolution and scored (mirrored-face score,
multi-view consistency), as ``panohead browse`` and the viewer's Seed browser do, with their defaults
(``--page``: the Browse tab's page, 16 seeds on the CPU; ``--resolution``: 32 on the CPU, the model's
on a GPU). "first thumbnail" and "first page" are the wall times from the first request until the
first seed and ``--page`` seeds are scored, cold (first-call costs included), as the user waits for
them, each with the process's CPU time (all threads; on a shared machine the wall time includes other
programs' turns, and a waiting thread can spin: compare CPU times with ``OMP_NUM_THREADS=1``); "all" covers
the whole range including the first page, then ranking, flagging and writing the CSV, JSON and
contact sheet. Untrained presets time the same as trained weights of that size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import benchmark_model, device_name, synchronize
from panohead.browser import (
    contact_sheet,
    default_batch,
    default_page,
    default_resolution,
    ranked,
    scan_seeds,
    worst,
    write_table,
)
from panohead.devices import pick_device
from panohead.images import save_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--preset", default=None, help="an untrained preset (paper, small, tiny) instead of the bundled model"
    )
    parser.add_argument("--checkpoint", default=None, help="a checkpoint instead of the bundled model")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="how many seeds (0, 1, ...) to browse (default: 24, or the page if more)",
    )
    parser.add_argument("--page", type=int, default=None, help="seeds on the first page (default: the Browse tab's)")
    parser.add_argument("--batch", type=int, default=None, help="heads per batch (default: 16 on a GPU, 1 on the CPU)")
    parser.add_argument(
        "--resolution", type=int, default=None, help="neural resolution (default: 32 on the CPU, else the model's)"
    )
    args = parser.parse_args()

    device = pick_device(args.device)
    generator, name = benchmark_model(args.checkpoint or (None if args.preset else "bundled"), args.preset, device)
    batch = args.batch or default_batch(device)
    page = args.page or default_page(device)
    seeds = args.seeds or max(24, page)
    resolution = args.resolution or default_resolution(device) or generator.config.neural_resolution
    print(f"model {name} on {device_name(device)}: {seeds} seeds, batch {batch}, {resolution}^2 x 4 views")

    heads, marks = [], {"first thumbnail": 1, f"first page ({min(page, seeds)} seeds)": min(page, seeds)}
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for part in scan_seeds(generator, range(seeds), batch_size=batch, resolution=resolution):
        heads.extend(part)
        for label, count in list(marks.items()):
            if len(heads) >= count:
                del marks[label]
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
                print(f"{label + ':':22s} {wall:8.2f} s (process CPU time {cpu:.2f} s)")
    synchronize(device)
    scored = time.perf_counter() - start
    scores = [head.score for head in heads]
    flagged = worst(scores)
    order = ranked(scores, "mirror")
    by_seed = {head.score.seed: head for head in heads}
    with tempfile.TemporaryDirectory() as folder:
        write_table(Path(folder) / "browse.csv", order, flagged)
        write_table(Path(folder) / "browse.json", order, flagged)
        save_image(
            Path(folder) / "contact_sheet.png", contact_sheet([by_seed[s.seed] for s in order], "strip", flagged)
        )
    total = time.perf_counter() - start
    print(f"scored {seeds} seeds:     {scored:8.2f} s ({seeds / scored:.2f} seeds/s)")
    print(f"with table and sheet:  {total:8.2f} s")
    if device.type == "cuda":
        print(f"peak GPU memory:       {torch.cuda.max_memory_allocated(device) / 2**30:8.2f} GiB")


if __name__ == "__main__":
    main()
