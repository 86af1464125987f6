"""Time the editing engine: principal directions, an edited render, a preview strip, a keyframe video.

    python bench/bench_editing.py --config small --device cpu
    python bench/bench_editing.py --config paper --device cuda

"pca" maps 10,000 z and eigen-decomposes their covariance (what the cache saves on every later
open); "edit render" is one full render of a head with style mixing and a direction (mapping, both
synthesis networks, ray marching, super-resolution); "strip" is one direction's 2 x 3 preview at the
neural resolution; "path video" renders and encodes a two-keyframe path of --frames frames to .mp4.
Models are untrained presets unless --checkpoint is given (timings do not depend on the weights).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import benchmark_model, device_name, time_call
from panohead.devices import pick_device
from panohead.editing import (
    Camera,
    EditState,
    Keyframe,
    Latent,
    Mixing,
    PathSettings,
    group_range,
    principal_directions,
    render_state,
    sample_w,
)
from panohead.editing.path_video import export_path
from panohead.editing.preview import direction_strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="preset for an untrained model (paper, small, tiny)")
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of --config")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=30, help="frames of the keyframe video")
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    generator, name = benchmark_model(args.checkpoint, args.config, device)
    print(f"model {name} on {device_name(device)}")

    start = time.perf_counter()
    pca = principal_directions(sample_w(generator))
    print(f"pca (10,000 samples):  {time.perf_counter() - start:8.3f} s")

    direction = pca.top(1)[0]
    state = EditState(
        latent=Latent.from_seed(1), mixing=Mixing(Latent.from_seed(2), group_range(generator.synthesis, "fine"))
    )
    state = state.with_direction(direction, 1.5)
    with torch.no_grad():
        seconds = time_call(lambda: render_state(generator, state), device)
    print(f"edit render:           {seconds:8.3f} s")
    seconds = time_call(lambda: direction_strip(generator, state, direction), device, warmup=1, repeats=3)
    print(f"strip (2 x 3 views):   {seconds:8.3f} s")

    keyframes = [Keyframe(state), Keyframe(EditState(latent=Latent.from_seed(3), camera=Camera(yaw=180.0)))]
    settings = PathSettings(frames_per_segment=max(args.frames - 1, 1))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        export_path(generator, keyframes, Path(folder) / "path.mp4", settings)
        seconds = time.perf_counter() - start
    print(f"path video ({args.frames} frames): {seconds:8.3f} s ({seconds / args.frames:.3f} s per frame)")


if __name__ == "__main__":
    main()
