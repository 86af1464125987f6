"""Time the seed browser: seconds to the first page of scored thumbnails, then seeds per second.

    python bench/bench_browser.py --device cpu                       # the bundled model
    python bench/bench_browser.py --device cuda --preset paper --seeds 1000

Every seed is rendered from four yaws at the neural resolution and scored (mirrored-face score,
multi-view consistency), as ``panohead browse`` and the viewer's Seed browser do. "first page" is
the wall time from the first request until ``--page`` seeds are scored, cold (first-call costs
included), as the user waits for it, with the process's CPU time (on a shared machine the wall time
includes other programs' turns); "all" covers the whole range including the first page, then
ranking, flagging and writing the CSV, JSON and contact sheet. Untrained presets time the same as
trained weights of that size.
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
from panohead.browser import contact_sheet, default_batch, ranked, scan_seeds, worst, write_table
from panohead.devices import pick_device
from panohead.images import save_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--preset", default=None, help="an untrained preset (paper, small, tiny) instead of the bundled model"
    )
    parser.add_argument("--checkpoint", default=None, help="a checkpoint instead of the bundled model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, default=24, help="how many seeds (0, 1, ...) to browse")
    parser.add_argument("--page", type=int, default=8, help="seeds on the first page")
    parser.add_argument("--batch", type=int, default=None, help="heads per batch (default: 16 on a GPU, 1 on the CPU)")
    parser.add_argument("--resolution", type=int, default=None, help="neural resolution (default: the model's)")
    args = parser.parse_args()

    device = pick_device(args.device)
    generator, name = benchmark_model(args.checkpoint or (None if args.preset else "bundled"), args.preset, device)
    batch = args.batch or default_batch(device)
    resolution = args.resolution or generator.config.neural_resolution
    print(f"model {name} on {device_name(device)}: {args.seeds} seeds, batch {batch}, {resolution}^2 x 4 views")

    heads, first_page = [], None
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for part in scan_seeds(generator, range(args.seeds), batch_size=batch, resolution=args.resolution):
        heads.extend(part)
        if first_page is None and len(heads) >= min(args.page, args.seeds):
            first_page = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            print(
                f"first page ({min(args.page, args.seeds)} seeds): {first_page:8.2f} s (process CPU time {cpu:.2f} s)"
            )
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
    print(f"scored {args.seeds} seeds:     {scored:8.2f} s ({args.seeds / scored:.2f} seeds/s)")
    print(f"with table and sheet:  {total:8.2f} s")
    if device.type == "cuda":
        print(f"peak GPU memory:       {torch.cuda.max_memory_allocated(device) / 2**30:8.2f} GiB")


if __name__ == "__main__":
    main()
