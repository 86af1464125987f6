"""Fidelity, size and export time of the textured mesh and the Gaussian splats (issue 21).

    python bench/bench_assets.py --device cpu --images docs/images/export_compare.png
    python bench/bench_assets.py --checkpoint paper.pkl --device cuda --faces 100000 --gaussians 100000

Each asset is exported as `panohead mesh --texture` / `panohead splat` would, read back from its
file, rendered from the 8 held-out views of panohead.export.views.HELD_OUT_ORBIT (none of them a
baking/fitting view; yaw 0 to 315 including the back) and compared with the generator's final image
from the same camera, both matted on black. PSNR and SSIM are taken over the head region: the
pixels that the generator's mask or the asset covers by at least half (PSNR), and the box around
them (SSIM). Assets are rendered at twice the image size and averaged down (anti-aliasing).
Export time excludes model loading and the tri-grid synthesis, includes rendering the views.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
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
from panohead.export.mesh import extract_mesh
from panohead.export.splat import SplatSettings, save_splat, splat_head
from panohead.export.texture import TextureSettings, save_textured_mesh, texture_head_mesh
from panohead.export.views import HELD_OUT_ORBIT, View, generator_views, orbit_views

SUPERSAMPLE = 2
SAMPLE_YAWS = (0.0, 90.0, 180.0)


def fidelity(rendered: np.ndarray, coverage: np.ndarray, view: View) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``rendered`` (S, S, 3) against the generator's view, on the head region."""
    target, mask = view.image.numpy(), view.mask.numpy()
    region = (mask > 0.5) | (coverage > 0.5)
    mse = float(((rendered - target) ** 2)[region].mean())
    rows, columns = np.nonzero(region)
    box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
    ssim = structural_similarity(rendered[box], target[box], channel_axis=-1, data_range=1.0)
    return 10 * math.log10(1.0 / max(mse, 1e-12)), float(ssim)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=128, help="density grid for the mesh and the splat seeds")
    parser.add_argument("--faces", type=int, default=TextureSettings.faces)
    parser.add_argument("--texture-size", type=int, default=TextureSettings.size)
    parser.add_argument("--gaussians", type=int, default=SplatSettings.count)
    parser.add_argument("--steps", type=int, default=SplatSettings.steps)
    parser.add_argument("--images", default=None, help="write generator / mesh / splat at yaw 0, 90, 180 here (.png)")
    args = parser.parse_args()

    generator, device, source = open_generator(args.checkpoint, args.device)
    head = head_from_seed(generator, args.seed)
    field = HeadField(generator, head)
    held_out = generator_views(generator, head, orbit_views(generator, HELD_OUT_ORBIT))
    size = held_out[0].image.shape[0]
    log("rendered the held-out views")
    rows = {"generator": [v.image.numpy() for v in held_out]}
    report = []
    with tempfile.TemporaryDirectory() as folder:
        mesh_path, splat_path = Path(folder) / "head.glb", Path(folder) / "head.ply"

        def export_mesh():
            textured = texture_head_mesh(
                generator,
                head,
                extract_mesh(field, args.resolution),
                TextureSettings(args.faces, args.texture_size),
                field,
                progress_log("textured mesh"),
            )
            save_textured_mesh(textured, mesh_path)

        _, mesh_seconds = timed(export_mesh)
        log(f"textured mesh exported in {mesh_seconds:.0f} s")

        def export_splat():
            gaussians = splat_head(
                generator,
                head,
                extract_mesh(field, args.resolution),
                field,
                SplatSettings(count=args.gaussians, steps=args.steps),
                progress_log("splats"),
            )
            save_splat(gaussians, splat_path)

        _, splat_seconds = timed(export_splat)
        log(f"splats exported in {splat_seconds:.0f} s")

        for name, path, seconds in (
            ("textured mesh (.glb)", mesh_path, mesh_seconds),
            ("Gaussian splats (.ply)", splat_path, splat_seconds),
        ):
            asset = load_asset(path)
            rendered = [asset.render(v.label, size, SUPERSAMPLE) for v in held_out]
            rows[name] = [image.numpy() for image, _ in rendered]
            scores = [
                fidelity(image.numpy(), alpha.numpy(), v) for (image, alpha), v in zip(rendered, held_out, strict=True)
            ]
            report.append((name, scores, path.stat().st_size, asset.description, seconds))

    print(
        f"model {source}, seed {args.seed}, {device_name(device)}, images {size} px, grid {args.resolution}^3, "
        f"texture {args.texture_size}, {args.steps} fitting steps"
    )
    print("| asset | PSNR (dB), mean / min | SSIM, mean / min | file | count | export time |")
    print("|---|---|---|---|---|---|")
    for name, scores, size_bytes, count, seconds in report:
        psnr, ssim = np.array(scores).T
        print(
            f"| {name} | {psnr.mean():.1f} / {psnr.min():.1f} | {ssim.mean():.3f} / {ssim.min():.3f} | "
            f"{size_bytes / 2**20:.1f} MiB | {count} | {seconds:.0f} s |"
        )
    print(
        "per view (yaw, pitch): PSNR textured mesh / splats: "
        + ", ".join(
            f"({yaw:g}, {pitch:g}) {m[0]:.1f} / {s[0]:.1f}"
            for (yaw, pitch), m, s in zip(HELD_OUT_ORBIT, report[0][1], report[1][1], strict=True)
        )
    )
    if args.images:
        columns = [next(i for i, (yaw, _) in enumerate(HELD_OUT_ORBIT) if yaw == wanted) for wanted in SAMPLE_YAWS]
        grid = np.concatenate([np.concatenate([row[i] for i in columns], axis=1) for row in rows.values()], axis=0)
        Image.fromarray((grid * 255).round().clip(0, 255).astype(np.uint8)).save(args.images)
        print(f"wrote {args.images} (rows: {', '.join(rows)}; columns: yaw {', '.join(f'{y:g}' for y in SAMPLE_YAWS)})")


if __name__ == "__main__":
    main()
