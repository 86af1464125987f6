"""Measure the alignment's person masks and stage-2 yaw on synthetic heads with exact masks and labels.

    python bench/bench_alignment.py                        # masks + stage-2 yaw on synthetic heads
    python bench/bench_alignment.py --reference IMGS SEGS  # also mask IoU on crops with reference masks

Synthetic heads: seed 11 (masks) and 21 (yaw), four heads per view at 256 px, pitch 0. Reference masks:
every image in IMGS whose name (as .png) is in SEGS, thresholded at 50%.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

from panohead.data.align import Aligner, AlignmentError
from panohead.data.estimators import SelfieSegmenter
from panohead.data.synth import SynthSettings, synthesize
from panohead.images import to_uint8

MASK_YAWS = (0, 45, 90, 135, 180, -90)
STAGE2_YAWS = (90, -90, 180, 150, -150, 120)


def iou(found: np.ndarray, exact: np.ndarray) -> float:
    return float((found & exact).sum() / max(1, (found | exact).sum()))


def synthetic_masks(segmenter: SelfieSegmenter, resolution: int) -> None:
    scores = []
    for yaw in MASK_YAWS:
        batch = synthesize(11, range(4), SynthSettings(resolution=resolution), yaw=math.radians(yaw), pitch=0.0)
        row = [
            iou(segmenter(to_uint8(image)) > 0.5, exact)
            for image, exact in zip(batch.images, batch.masks[:, 0].numpy() > 0.5, strict=True)
        ]
        scores += row
        print(f"mask IoU, synthetic yaw {yaw:+4d}: " + " ".join(f"{value:.3f}" for value in row))
    print(f"mask IoU, synthetic: mean {np.mean(scores):.3f}, min {np.min(scores):.3f} over {len(scores)} heads")


def reference_masks(segmenter: SelfieSegmenter, images: Path, masks: Path) -> None:
    for path in sorted(images.iterdir()):
        reference = masks / (path.stem + ".png")
        if not reference.is_file():
            continue
        exact = np.asarray(Image.open(reference).convert("L")) > 127
        found = segmenter(np.asarray(Image.open(path).convert("RGB"))) > 0.5
        print(f"mask IoU, {path.name}: {iou(found, exact):.3f}")


def stage2_yaw(resolution: int) -> None:
    aligner = Aligner(resolution=64)
    for yaw in STAGE2_YAWS:
        batch = synthesize(21, range(4), SynthSettings(resolution=resolution), yaw=math.radians(yaw), pitch=0.0)
        cells = []
        for image in batch.images:
            try:
                result = aligner.align(to_uint8(image))
                error = (result.yaw - yaw + 180.0) % 360.0 - 180.0
                cells.append(f"stage {result.stage} {error:+6.1f}")
            except AlignmentError:
                cells.append("skipped      ")
        print(f"yaw error, synthetic yaw {yaw:+4d}: " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--reference", nargs=2, type=Path, metavar=("IMAGES", "MASKS"))
    args = parser.parse_args()
    segmenter = SelfieSegmenter()
    synthetic_masks(segmenter, args.resolution)
    if args.reference:
        reference_masks(segmenter, *args.reference)
    stage2_yaw(args.resolution)


if __name__ == "__main__":
    main()
