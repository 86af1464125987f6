"""Fast paths vs the plain fp32 eager reference: new seed, orbit, super-resolution (+ mesh, inversion step).

For each model and batch size, every path is timed in the same run as the reference and compared
with its images:

- reference: plain fp32 eager (TF32 off), nothing cached: mapping, tri-grid, background, render and
  super-resolution for every frame (``G.forward``-equivalent). Orbit ratios are against it too.
- fast paths (:class:`panohead.fast.FastRenderer`, each a :class:`panohead.precision.Precision` and
  options): cached fp32, TF32, fp16/bf16 super-resolution, fp16 tri-grid too, empty-space skipping,
  CUDA-graph replay of the orbit frame.

Each row prints ms per batch, images per second, the speed-up vs the reference and the max abs
difference of the final image (range [-1, 1]) vs the reference image of the same inputs.

    python bench/bench_speed.py --device cuda                 # paper batch 1 and 8 + bundled model (GPU)
    python bench/bench_speed.py --quick                       # CPU: bundled model, preview resolution
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name, print_official, time_call
from panohead.config import preset
from panohead.devices import cudnn_benchmark, pick_device
from panohead.fast import FastRenderer
from panohead.generator import PanoHeadGenerator
from panohead.model_source import ModelSource
from panohead.precision import FP32, Precision
from panohead.views.camera import orbit_camera

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> FastRenderer keyword arguments (its precision sets TF32 and autocast for every stage)
GPU_PATHS = {
    "fp32 cached": {},
    "tf32": {"precision": "tf32"},
    "fp16 SR": {"precision": "fp16"},
    "bf16 SR": {"precision": "bf16"},
    "fp16 SR+tri-grid": {"precision": "fp16", "trigrid_precision": "fp16"},
    "fp16 SR + skip empty": {"precision": "fp16", "skip_empty": True},
    "fp16 SR + graph": {"precision": "fp16", "cuda_graph": True},
    "tf32 + fp16 SR + graph": {"precision": "tf32+fp16", "cuda_graph": True},
    "tf32 + fp16 all + graph": {"precision": "tf32+fp16", "trigrid_precision": "tf32+fp16", "cuda_graph": True},
    # "compile" (torch.compile of the three conv networks) is applied by this script to a copy of G
    "tf32 + fp16 all + compile + graph": {
        "precision": "tf32+fp16",
        "trigrid_precision": "tf32+fp16",
        "cuda_graph": True,
        "compile": True,
    },
}
CPU_PATHS = {
    "fp32 cached": {},
    "skip empty": {"skip_empty": True},
}


def row(path: str, stage: str, seconds: float, batch: int, reference: float | None, diff: float | None) -> None:
    ratio = f"{reference / seconds:6.2f}x" if reference else "   ref "
    delta = "" if diff is None else f"  max|diff| {diff:.2e}"
    print(f"  {path:26s} {stage:17s} {seconds * 1e3:9.2f} ms {batch / seconds:8.1f} img/s  {ratio}{delta}", flush=True)


def bench_model(
    G,
    label: str,
    batch: int,
    device: torch.device,
    repeats: int,
    paths: dict,
    neural_resolution: int | None = None,
    superresolve: bool = True,
) -> None:
    cfg = G.config
    res = neural_resolution or cfg.neural_resolution
    output = G.superres.output_resolution if superresolve else res
    print(f"{label}, batch {batch}, neural {res}^2, output {output}^2", flush=True)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(batch, cfg.z_dim, generator=generator).to(device)
    front = orbit_camera(torch.zeros(batch), device=device)
    side = orbit_camera(torch.full((batch,), 45.0), torch.full((batch,), 5.7), device=device)
    key = "image" if superresolve else "image_raw"
    with torch.inference_mode(), FP32.scope(device):

        def reference_frame():
            ws = G.mapping(z, front, psi=0.7)
            return G.render(
                G.synthesize_planes(ws),
                ws,
                side,
                background=G.synthesize_background(ws),
                neural_resolution=res,
                superresolve=superresolve,
            )

        ref_out = reference_frame()
        reference_image = ref_out[key]
        t_ref = time_call(reference_frame, device, repeats=repeats)
        row("reference (fp32 eager)", "full = orbit", t_ref, batch, None, None)
        ws = G.mapping(z, front, psi=0.7)
        if superresolve:
            t_sr_ref = time_call(
                lambda: G.superres(ref_out["image_raw"], ref_out["features"], ws), device, repeats=repeats
            )
            row("reference (fp32 eager)", "super-res alone", t_sr_ref, batch, None, None)

    def bench_path(name: str, options: dict) -> None:
        """One fast path's rows; its renderer, and with it any CUDA graphs' memory pools, goes on return."""
        fast = FastRenderer(variant_generator(G, options), **renderer_options(options))
        try:
            planes, background = fast.planes(ws), fast.background(ws)

            def new_seed():
                if superresolve and neural_resolution is None:
                    return fast.synthesize(z, front, side, psi=0.7)
                w = fast.mapping(z, front, psi=0.7)
                return fast.render(fast.planes(w), w, side, fast.background(w), res, superresolve)[key]

            def orbit():
                if superresolve and neural_resolution is None:
                    return fast.orbit(planes, ws, side, background)
                return fast.render(planes, ws, side, background, res, superresolve)[key]

            diff = float((new_seed() - reference_image).abs().max())
            row(name, "new seed", time_call(new_seed, device, repeats=repeats), batch, t_ref, diff)
            if options.get("skip_empty"):
                fast.occupancy(planes)  # built once per head, like the tri-grid itself
                start = time.perf_counter()
                fast.release()
                fast.occupancy(planes)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                print(
                    f"  {'':26s} occupancy grid built in {(time.perf_counter() - start) * 1e3:.1f} ms, "
                    f"{fast.occupancy(planes).fraction:.0%} of cells occupied",
                    flush=True,
                )
            diff = float((orbit() - reference_image).abs().max())
            row(name, "orbit", time_call(orbit, device, repeats=repeats), batch, t_ref, diff)
            if fast.graph_error:
                print(f"  {'':26s} CUDA graph fell back to eager: {fast.graph_error}")
            if superresolve and fast.precision.half and not options.get("cuda_graph"):

                def superres():
                    return fast.superres(ref_out["image_raw"], ref_out["features"], ws)

                diff = float((superres() - ref_out["image"]).abs().max())
                row(name, "super-res alone", time_call(superres, device, repeats=repeats), batch, t_sr_ref, diff)
        finally:
            fast.release()

    for name, options in paths.items():
        with torch.inference_mode():
            try:
                bench_path(name, options)
            except Exception as error:  # report and go on: one path failing must not hide the others
                print(f"  {name:26s} FAILED: {type(error).__name__}: {str(error).strip().splitlines()[:1]}", flush=True)
        # Each path's graphs hold memory pools as large as a frame's intermediates: free them before the
        # next path so later rows are not starved (or pushed into eager fallbacks).
        free_memory(device)


def renderer_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if k != "compile"}


def variant_generator(G, options: dict):
    """``G`` itself, or a compiled copy when the path asks for one."""
    if not options.get("compile"):
        return G
    G = copy.deepcopy(G)
    for network in (G.synthesis, G.background, G.superres):
        if network is not None:
            network.compile()
    return G


def stage_times(G, batch: int, device: torch.device, repeats: int, options: dict) -> None:
    """Where a new seed's time goes on one path (eager, no graphs): mapping, tri-grid, background,
    ray march with compositing and to-RGB, super-resolution."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(batch, G.config.z_dim, generator=generator).to(device)
    camera = orbit_camera(torch.zeros(batch), device=device)
    with torch.inference_mode():
        fast = FastRenderer(variant_generator(G, options), **renderer_options(options))
        ws = fast.mapping(z, camera, psi=0.7)
        planes, background = fast.planes(ws), fast.background(ws)
        out = fast.render(planes, ws, camera, background, superresolve=False)
        parts = {
            "mapping": lambda: fast.mapping(z, camera, psi=0.7),
            "tri-grid": lambda: fast.planes(ws),
            "background": lambda: fast.background(ws),
            "ray march + compose": lambda: fast.render(planes, ws, camera, background, superresolve=False),
            "super-resolution": lambda: fast.superres(out["image_raw"], out["features"], ws),
        }
        times = {name: time_call(part, device, repeats=repeats) for name, part in parts.items()}
    print(
        f"  stages, batch {batch}, {options}: "
        + ", ".join(f"{name} {seconds * 1e3:.2f} ms" for name, seconds in times.items())
        + f" (sum {sum(times.values()) * 1e3:.1f} ms)",
        flush=True,
    )


def free_memory(device: torch.device) -> None:
    """Collect what the last rows dropped and hand cached GPU memory back to the driver."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        print(
            f"  {'':26s} GPU memory after freeing: {torch.cuda.memory_allocated(device) / 2**20:.0f} MiB "
            f"allocated, {torch.cuda.memory_reserved(device) / 2**20:.0f} MiB reserved",
            flush=True,
        )


def bench_mesh(device: torch.device, resolution: int) -> None:
    command = [
        sys.executable,
        os.path.join(ROOT, "bench", "bench_mesh.py"),
        "--config",
        "paper",
        "--resolution",
        str(resolution),
        "--device",
        device.type,
        "--repeats",
        "1",
    ]
    print(f"mesh extraction: {' '.join(command[1:])}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    text = (result.stdout + result.stderr).strip().splitlines()
    print("  " + "\n  ".join(text[-3:] if result.returncode == 0 else text[-1:]), flush=True)


def bench_inversion_step(device: torch.device, repeats: int) -> None:
    """One latent-optimisation step (render, MS-SSIM + gradient + L2 loss, backward, Adam) on the paper model."""
    try:
        from panohead.inversion.objective import Reconstruction, render_view
        from panohead.inversion.perceptual import StructuralLoss
    except ImportError:
        print("inversion step: panohead.inversion is not present; skipped")
        return
    torch.manual_seed(0)
    G = PanoHeadGenerator(preset("paper")).eval().requires_grad_(False).to(device)
    label = orbit_camera(torch.zeros(1), device=device)
    with torch.no_grad():
        ws0 = G.mapping(torch.randn(1, G.config.z_dim, device=device), label, psi=0.7)
        target = render_view(G, ws0, label).clamp(-1, 1)
    objective = Reconstruction(target, StructuralLoss().to(device))
    ws = (ws0 + 0.1 * torch.randn_like(ws0)).requires_grad_(True)
    optimiser = torch.optim.Adam([ws], lr=0.01)
    precisions = ("fp32", "tf32") if device.type == "cuda" else ("fp32",)

    def step(precision: str) -> None:
        optimiser.zero_grad(set_to_none=True)
        with Precision.parse(precision).scope(device):
            loss, _ = objective(render_view(G, ws, label).float())
        loss.backward()
        optimiser.step()

    for precision in precisions:
        seconds = time_call(functools.partial(step, precision), device, warmup=1, repeats=repeats)
        print(f"  inversion step ({precision}): {seconds * 1e3:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="CPU: bundled model only, batch 1, few repeats")
    parser.add_argument("--mesh", type=int, default=256, help="mesh resolution (0 skips)")
    parser.add_argument("--no-inversion", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--paths", nargs="+", default=None, help="only these paths (names as printed)")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled model's rows")
    parser.add_argument("--stages", action="store_true", help="per-stage times of the fastest eager path")
    args = parser.parse_args()

    device = pick_device("cpu" if args.quick and args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {device_name(device)}  torch {torch.__version__}", flush=True)
    paths = GPU_PATHS if device.type == "cuda" else CPU_PATHS
    if args.paths:
        unknown = set(args.paths) - set(paths)
        if unknown:
            parser.error(f"unknown path(s) {sorted(unknown)}; choose from {list(paths)}")
        paths = {name: paths[name] for name in args.paths}
    if device.type == "cuda":
        print_official("new seed batch 1", "new seed batch 8", "orbit batch 1")
    model = ModelSource.parse("bundled")
    bundled, source = model.open(device), model.describe()
    bundled = bundled.eval().requires_grad_(False)
    if args.quick:
        from viz.renderer import preview_resolution

        preview = preview_resolution(bundled.config.neural_resolution)
        bench_model(
            bundled,
            f"bundled ({source}), preview",
            1,
            device,
            max(3, args.repeats // 5),
            paths,
            neural_resolution=preview,
            superresolve=False,
        )
        bench_model(bundled, f"bundled ({source}), full", 1, device, 3, paths)
        return
    torch.manual_seed(0)
    G = PanoHeadGenerator(preset("paper")).eval().requires_grad_(False).to(device)
    for batch in args.batch:
        bench_model(G, "paper (untrained)", batch, device, args.repeats, paths)
    if args.stages and device.type == "cuda":
        for batch in args.batch:
            stage_times(G, batch, device, args.repeats, {"precision": "tf32+fp16", "trigrid_precision": "tf32+fp16"})
    if not args.no_bundled:
        bench_model(bundled, f"bundled ({source})", 1, device, args.repeats, paths)
    del G, bundled  # the mesh run is another process; the inversion step builds its own model
    free_memory(device)
    if args.mesh:
        bench_mesh(device, args.mesh)
    if not args.no_inversion:
        bench_inversion_step(device, 5)


if __name__ == "__main__":
    with cudnn_benchmark(True):  # as the viewer: fixed shapes
        main()
