"""Contact sheet of synthetic heads: one row per head, one column per yaw (the README's docs/images/synth_heads.png).

python bench/synth_sheet.py --out docs/images/synth_heads.png --count 6 --yaws 0 45 90 180 270 --resolution 128
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from panohead.data.synth import SynthSettings, synthesize
from panohead.images import image_grid, save_image, to_uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=6, help="Heads (rows): images 0..count-1 of the seed.")
    parser.add_argument("--yaws", type=float, nargs="+", default=[0, 45, 90, 180, 270], help="Columns, degrees.")
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()

    settings = SynthSettings(resolution=args.resolution)
    with torch.no_grad():
        columns = [
            to_uint8(synthesize(args.seed, range(args.count), settings, yaw=yaw, pitch=0.0).images) for yaw in args.yaws
        ]
    tiles = [columns[column][row] for row in range(args.count) for column in range(len(args.yaws))]
    save_image(args.out, image_grid(tiles, len(args.yaws)))
    print(
        f"wrote {args.out}: {args.count} heads x yaws {', '.join(f'{y:g}' for y in args.yaws)} at {args.resolution} px"
    )


if __name__ == "__main__":
    main()
