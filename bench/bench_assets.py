"""Fidelity, size and export time of the textured mesh and the Gaussian splats (issue 21).

    python bench/bench_assets.py --device cpu --images docs/images/export_compare.png
    python bench/bench_assets.py --device cpu --assets mesh --faces 25000   # one row of the face-budget table
    python bench/bench_assets.py --device cpu --assets splat --gaussians 10000 --steps 150,300,600  # a curve
    python bench/bench_assets.py --device cuda --models random:paper,bundled --resolution 256  # one H200

Each asset is exported as `panohead mesh --texture` / `panohead splat` would, read back from its
file, rendered from the 8 held-out views of panohead.export.views.HELD_OUT_ORBIT (none of them a
baking/fitting view; yaw 0 to 315 including the back) and compared with the generator's final image
from the same camera, both matted on black. PSNR and SSIM are taken over the head region: the
pixels that the generator's mask or the asset covers by at least half (PSNR), and the box around
them (SSIM). Assets are rendered at twice the image size and averaged down (anti-aliasing).
Export time excludes model loading and the tri-grid synthesis, includes rendering the views and
writing the file; it is printed against the issue's targets for one GPU (10 s textured mesh, 60 s
splats). ``--models`` takes several sources, each benched in turn: ``random:paper`` is a randomly
initialised model of the paper's configuration (same sizes and work as a trained one, so its
times are the targets' times; its fidelity is meaningless and not printed), ``bundled`` the
trained bundled model (its fidelity is). A random density has no head at the usual iso-level, so
there the surface is taken at the level that keeps the densest tenth of the box (a head-sized
blob, :data:`RANDOM_MODEL_FILL`). ``--steps 300,600`` fits the splats once per step count (a
fidelity-against-steps curve at the settings' schedule).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import device_name
from panohead.cli.common import open_generator
from panohead.export.assets import load_asset
from panohead.export.field import HeadField
from panohead.export.heads import head_from_seed
from panohead.export.mesh import DEFAULT_THRESHOLD, extract_mesh, sample_density
from panohead.export.splat import SplatSettings, save_splat, splat_head
from panohead.export.texture import TextureSettings, save_textured_mesh, texture_head_mesh
from panohead.export.views import HELD_OUT_ORBIT, View, generator_views, orbit_views

SUPERSAMPLE = 2
SAMPLE_YAWS = (0.0, 90.0, 180.0)
TARGET_SECONDS = {"mesh": 10.0, "splat": 60.0}  # issue 21, one H200, paper configuration
NAMES = {"mesh": "textured mesh (.glb)", "splat": "Gaussian splats (.ply)"}
SSIM_WINDOW = 7  # scikit-image's default window
RANDOM_MODEL_FILL = 0.1  # share of the box inside the surface of a random model's density


def fidelity(rendered: np.ndarray, coverage: np.ndarray, view: View) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``rendered`` (S, S, 3) against the generator's view, on the head region; NaN
    where neither shows anything there (a random model's sparse density can miss a view entirely)."""
    target, mask = view.image.numpy(), view.mask.numpy()
    region = (mask > 0.5) | (coverage > 0.5)
    if not region.any():
        return math.nan, math.nan
    mse = float(((rendered - target) ** 2)[region].mean())
    rows, columns = np.nonzero(region)
    box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
    psnr = 10 * math.log10(1.0 / max(mse, 1e-12))
    if min(rendered[box].shape[:2]) < SSIM_WINDOW:  # a few pixels of a random model: no SSIM window fits
        return psnr, math.nan
    ssim = structural_similarity(rendered[box], target[box], channel_axis=-1, data_range=1.0, win_size=SSIM_WINDOW)
    return psnr, float(ssim)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def progress_log(name: str):
    """A progress callback that logs every tenth of the way (exports take minutes on a CPU)."""
    start, marks = time.perf_counter(), set()

    def update(fraction: float) -> None:
        mark = int(fraction * 10)
        if mark not in marks:
            marks.add(mark)
            log(f"{name}: {mark * 10}% after {time.perf_counter() - start:.0f} s")

    return update


def parse_list(text: str, kind=str) -> list:
    return [kind(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        default="bundled",
        help="comma-separated model sources: bundled, a checkpoint path, random:<preset> (e.g. random:paper)",
    )
    parser.add_argument("--assets", default="mesh,splat", help="which to export: mesh, splat or both")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=128, help="density grid for the mesh and the splat seeds")
    parser.add_argument("--faces", type=int, default=TextureSettings.faces)
    parser.add_argument("--texture-size", type=int, default=TextureSettings.size)
    parser.add_argument("--gaussians", type=int, default=SplatSettings.count)
    parser.add_argument(
        "--steps", default=str(SplatSettings.steps), help="fitting steps; a comma-separated list fits once per count"
    )
    parser.add_argument("--images", default=None, help="write generator / mesh / splat at yaw 0, 90, 180 here (.png)")
    args = parser.parse_args()
    kinds = [kind for kind in ("mesh", "splat") if kind in args.assets.split(",")]
    if not kinds or set(args.assets.split(",")) - set(kinds):
        parser.error(f"--assets {args.assets}: give mesh, splat or mesh,splat")
    steps = parse_list(args.steps, int)
    if args.images and len(parse_list(args.models)) > 1:
        parser.error("--images shows one model: give one in --models")
    report, rows = [], {}
    for model in parse_list(args.models):
        report += bench_model(model, kinds, steps, args, rows)
    print(
        f"seed {args.seed}, grid {args.resolution}^3, {args.faces} faces, texture {args.texture_size}, "
        f"{args.gaussians} Gaussians"
    )
    print("| model | asset | steps | PSNR (dB), mean / min | SSIM, mean / min | file | count | export time |")
    print("|---|---|---|---|---|---|---|---|")
    for row in report:
        psnr, ssim = np.array(row.scores).T
        fidelity_cells = (
            "random model: n/a | n/a"
            if row.random
            else f"{psnr.mean():.1f} / {psnr.min():.1f} | {ssim.mean():.3f} / {ssim.min():.3f}"
        )
        model = f"{row.model} ({row.images} px, {row.device})"
        print(
            f"| {model} | {NAMES[row.kind]} | {row.steps or '-'} | {fidelity_cells} "
            f"| {row.size / 2**20:.1f} MiB | {row.count} | {row.seconds:.1f} s |"
        )
    for row in report:
        if not row.random:
            print(
                f"per view (yaw, pitch), PSNR of the {NAMES[row.kind]} ({row.model}"
                + (f", {row.steps} steps" if row.steps else "")
                + "): "
                + ", ".join(
                    f"({yaw:g}, {pitch:g}) {score[0]:.1f}"
                    for (yaw, pitch), score in zip(HELD_OUT_ORBIT, row.scores, strict=True)
                )
            )
    for row in report:
        target = TARGET_SECONDS[row.kind]
        verdict = "met" if row.seconds <= target else "missed"
        steps_note = f" at {row.steps} steps" if row.steps else ""
        print(
            f"{row.model}: {NAMES[row.kind]} export{steps_note}: {row.seconds:.1f} s against the GPU target of "
            f"{target:g} s ({verdict})"
        )
    if args.images:
        columns = [next(i for i, (yaw, _) in enumerate(HELD_OUT_ORBIT) if yaw == wanted) for wanted in SAMPLE_YAWS]
        grid = np.concatenate([np.concatenate([row[i] for i in columns], axis=1) for row in rows.values()], axis=0)
        Image.fromarray((grid * 255).round().clip(0, 255).astype(np.uint8)).save(args.images)
        print(f"wrote {args.images} (rows: {', '.join(rows)}; columns: yaw {', '.join(f'{y:g}' for y in SAMPLE_YAWS)})")


@dataclass(frozen=True)
class Row:
    """One export measured: ``scores`` (PSNR, SSIM) per held-out view; ``steps`` 0 for the mesh."""

    model: str
    random: bool
    device: str
    images: int
    kind: str
    steps: int
    scores: list[tuple[float, float]]
    size: int
    count: str
    seconds: float


def bench_model(model: str, kinds: list[str], step_counts: list[int], args, rows: dict) -> list[Row]:
    """Export ``kinds`` of seed ``args.seed`` of ``model`` (the splats once per step count), time each,
    read each back and score it on the held-out views; ``rows`` gets the pictures for ``--images``."""
    generator, device, source = open_generator(model, args.device)
    random_model = source.kind == "random"
    head = head_from_seed(generator, args.seed)
    field = HeadField(generator, head)
    threshold = DEFAULT_THRESHOLD
    if random_model:
        threshold = float(np.quantile(sample_density(field, 32).values, 1 - RANDOM_MODEL_FILL))
        log(f"random model: surface at density {threshold:.3g} (the densest {RANDOM_MODEL_FILL:.0%} of the box)")
    held_out = generator_views(generator, head, orbit_views(generator, HELD_OUT_ORBIT))
    size = held_out[0].image.shape[0]
    log(f"{source}: rendered the held-out views")
    rows.setdefault(f"generator ({source})", [v.image.numpy() for v in held_out])
    report = []
    with tempfile.TemporaryDirectory() as folder:

        def export_mesh(path: Path, _: int) -> None:
            textured = texture_head_mesh(
                generator,
                head,
                extract_mesh(field, args.resolution, threshold),
                TextureSettings(args.faces, args.texture_size),
                field,
                progress_log(f"{source} textured mesh"),
            )
            save_textured_mesh(textured, path)

        def export_splat(path: Path, steps: int) -> None:
            gaussians = splat_head(
                generator,
                head,
                extract_mesh(field, args.resolution, threshold),
                field,
                SplatSettings(count=args.gaussians, steps=steps),
                progress_log(f"{source} splats, {steps} steps"),
            )
            save_splat(gaussians, path)

        runs = [(kind, steps) for kind in kinds for steps in (step_counts if kind == "splat" else [0])]
        for kind, steps in runs:
            path = Path(folder) / f"{kind}{steps}{'.glb' if kind == 'mesh' else '.ply'}"
            _, seconds = timed(lambda: {"mesh": export_mesh, "splat": export_splat}[kind](path, steps))  # noqa: B023
            log(f"{source}: {NAMES[kind]} exported in {seconds:.1f} s")
            asset = load_asset(path).to(device)
            rendered = [asset.render(v.label, size, SUPERSAMPLE) for v in held_out]
            rows[f"{NAMES[kind]} ({source}{f', {steps} steps' if steps else ''})"] = [
                image.cpu().numpy() for image, _ in rendered
            ]
            scores = [
                fidelity(image.cpu().numpy(), alpha.cpu().numpy(), v)
                for (image, alpha), v in zip(rendered, held_out, strict=True)
            ]
            report.append(
                Row(
                    str(source),
                    random_model,
                    device_name(device),
                    size,
                    kind,
                    steps,
                    scores,
                    path.stat().st_size,
                    asset.description,
                    seconds,
                )
            )
    return report


if __name__ == "__main__":
    main()
