"""Has a training run collapsed to one head? Head against background spread of G and G_ema, beside the data's.

    python bench/diversity.py checkpoints/training/compact-000099936-part1of3.safetensors [more snapshots ...]
    python bench/diversity.py --seeds 16 --resolution 32 --psi 1,0.7 --data-seed 1099 SNAPSHOT ...

For each snapshot (full, or any part of a compact one; a checkpoint or ``random:PRESET`` gives its one network)
it renders seeds 0..N-1 from the frontal camera, conditioned on it, without super-resolution at
``--resolution`` rays per side, and prints a Markdown row per network and truncation:
:func:`panohead.metrics.diversity.spread` of the raw images (head, background, mask, head/background),
the spread of w over z (per-dimension standard deviation, mapping layer 0) and of the tri-grid
(standard deviation over z / mean absolute value). The first row is the synthetic data's: N heads of
``panohead dataset synth`` (dataset seed ``--data-seed``) rendered from the same frontal camera.
On a CPU, 16 seeds at 32x32 take about a minute per network and truncation on a loaded 2-core machine;
``--device cuda`` (the lease script, bench/train_bundled_gpu.sh) takes seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panohead.data.synth import SynthSettings, synthesize
from panohead.devices import pick_device
from panohead.generator import PanoHeadGenerator, seed_latent
from panohead.metrics.diversity import spread
from panohead.model_source import ModelSource
from panohead.training.snapshot import read_snapshot
from panohead.views.camera import frontal_camera

COLUMNS = ("source", "network", "psi", "head", "background", "mask", "head/background", "w spread", "tri-grid spread")


def networks(source: str, device: torch.device) -> dict[str, PanoHeadGenerator]:
    """G and G_ema of a training snapshot (``snapshot-*`` or ``compact-*``), or the one generator of any
    other model source (a checkpoint, ``random:medium`` = the training run's initial weights), in eval mode."""
    if not Path(source).name.startswith(("snapshot-", "compact-")):
        return {"G_ema": ModelSource.parse(source).open(device)}
    state = read_snapshot(source)
    built = {}
    for name, weights in (("G", state.generator), ("G_ema", state.generator_ema)):
        if weights:
            model = PanoHeadGenerator(state.config)
            model.load_state_dict(weights)
            built[name] = model.eval().to(device)
    return built


@torch.no_grad()
def model_row(model: PanoHeadGenerator, seeds: int, resolution: int, psi: float) -> list[str]:
    z = torch.cat([seed_latent(seed, model.config.z_dim, model.device) for seed in range(seeds)])
    camera = frontal_camera(model, seeds)
    ws = model.mapping(z, camera, psi)
    planes = model.synthesize_planes(ws)
    background = model.synthesize_background(ws)
    out = model.render(planes, ws, camera, background=background, neural_resolution=resolution, superresolve=False)
    numbers = spread(out["image_raw"], out["mask_raw"])
    w_spread = ws[:, 0].std(dim=0).mean().item()
    grid_spread = (planes.std(dim=0).mean() / planes.abs().mean()).item()
    return [f"{numbers[k]:.3f}" for k in ("head", "background", "mask", "ratio")] + [
        f"{w_spread:.3f}",
        f"{grid_spread:.3f}",
    ]


def data_row(seeds: int, resolution: int, data_seed: int, device: torch.device) -> list[str]:
    batch = synthesize(data_seed, range(seeds), SynthSettings(resolution=resolution), device, yaw=0.0, pitch=0.0)
    numbers = spread(batch.images, batch.masks)
    return [f"{numbers[k]:.3f}" for k in ("head", "background", "mask", "ratio")] + ["-", "-"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "sources", nargs="*", help="snapshots (any part of a compact one), checkpoints or random:PRESET"
    )
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=32, help="rays per side (no super-resolution)")
    parser.add_argument("--psi", default="1,0.7", help="truncations, comma-separated")
    parser.add_argument("--data-seed", type=int, default=1099, help="dataset seed of the reference heads")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = parser.parse_args()
    device = pick_device(args.device)
    psis = [float(p) for p in args.psi.split(",")]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    print(
        f"| synthetic data (seed {args.data_seed}) | - | - | "
        + " | ".join(data_row(args.seeds, args.resolution, args.data_seed, device))
        + " |",
        flush=True,
    )
    for source in args.sources:
        for name, model in networks(source, device).items():
            for psi in psis:
                cells = model_row(model, args.seeds, args.resolution, psi)
                print(f"| {Path(source).name} | {name} | {psi:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
