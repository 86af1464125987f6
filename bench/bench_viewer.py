"""Frame rates of the visualizer's renderer: orbiting (cached ws and tri-grid) and new seeds (full
synthesis), against the uncached reference path (G.forward every frame), measured in the same run.

    python bench/bench_viewer.py --preset paper --device cuda --frames 100   # fp32 and fp16, graphs off and on
    python bench/bench_viewer.py --preset tiny --device cpu --frames 20      # a quick smoke run
    python bench/bench_viewer.py --preset medium --device cpu --precision fp32 --quality preview --frames 30

Every frame goes through viz.renderer.Renderer exactly as in the app, including the conversion to
uint8 and the copy to host memory that the texture upload needs. Each precision (--precision, may
be repeated) is measured with the viewer's CUDA graphs off and, on CUDA, on, each with a fresh
renderer. Models are randomly initialised (speed does not depend on the weights) unless
--checkpoint is given.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time

import click
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name
from panohead.config import PRESETS
from panohead.devices import pick_device
from panohead.editing import Latent
from panohead.generator import seed_latent
from panohead.precision import FP32, RENDERING
from panohead.views.camera import orbit_camera
from panohead.views.images import to_rgba8, to_unit
from viz.renderer import QUALITIES, Renderer, RenderResult
from viz.request import build_request
from viz.state import AppState

GOAL_ORBIT_FPS, GOAL_SEED_MS = 60.0, 50.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, frames: int, frame) -> list[float]:
    """Seconds per call of ``frame(index)`` for ``frames`` calls, after two untimed warm-up calls
    (indices -1 and -2: other cameras and seeds, so the timed frames do not hit the viewer's caches)."""
    for index in range(2):
        frame(-1 - index)
    times = []
    for index in range(frames):
        synchronize(device)
        start = time.perf_counter()
        frame(index)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def stage_means(results: list[RenderResult]) -> str:
    stages: dict[str, list[float]] = {}
    for result in results:
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
    return ", ".join(f"{stage} {statistics.mean(values) * 1000:.2f} ms" for stage, values in stages.items())


def uncached_ms(G: torch.nn.Module, psi: float, target: torch.device, frames: int) -> float:
    """Median ms per frame of what a viewer without caches does: the whole generator every frame (fp32)."""
    cfg = G.config
    frontal = orbit_camera(0.0, 0.0, cfg, device=target)

    def reference(index: int) -> None:
        with torch.inference_mode():
            camera = orbit_camera(index * 360.0 / frames, 0.0, cfg, device=target)
            out = G(seed_latent(0, cfg.z_dim, target), frontal, camera, psi=psi)
            to_rgba8(to_unit(out["image"][0])).cpu()

    with FP32.scope(target):
        return statistics.median(timed(target, frames, reference)) * 1000


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="paper", show_default=True)
@click.option("--checkpoint", default=None, help="Measure this checkpoint instead of a random-init preset.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--precision",
    "precisions",
    type=click.Choice(RENDERING),
    multiple=True,
    default=("fp32", "fp16"),
    show_default=True,
    help="Repeat to measure several.",
)
@click.option("--frames", default=100, show_default=True, type=click.IntRange(1))
@click.option(
    "--quality",
    type=click.Choice(QUALITIES),
    default="full",
    show_default=True,
    help="The renderer pass to time: 'preview' is what the app shows on a CPU while the view moves.",
)
def main(
    preset_name: str, checkpoint: str | None, device: str, precisions: tuple[str, ...], frames: int, quality: str
) -> None:
    target = pick_device(device)
    source = checkpoint or f"random:{preset_name}"
    state = AppState()
    state.model.source, state.model.precision, state.model.cuda_graphs = source, "fp32", False
    renderer = Renderer()
    first = renderer(build_request(state, str(target)), "full")
    if first.error:
        raise click.ClickException(first.error)
    info = first.model
    G, _ = renderer.models.items[(source, str(target))]
    click.echo(
        f"bench_viewer: {info.name}, {info.image_resolution}x{info.image_resolution} image, "
        f"{info.neural_resolution}^2 neural, D={info.grid_depth}, on {device_name(target)}, {frames} frames"
    )

    reference_ms = uncached_ms(G, state.edit.psi, target, frames)
    del G
    renderer.clear()
    click.echo(f"{'path':44s}{'ms/frame':>10s}{'FPS':>9s}{'vs uncached':>14s}")
    click.echo(
        f"{'uncached reference (G.forward, fp32)':44s}{reference_ms:10.2f}{1000 / reference_ms:9.1f}{1.0:13.2f}x"
    )
    best: dict[str, tuple[float, str]] = {}
    for precision in precisions:
        for graphs in (False, True) if target.type == "cuda" else (False,):
            variant = f"{precision}, CUDA graphs {'on' if graphs else 'off'}"
            measured = measure(source, target, precision, graphs, frames, quality)
            free_memory(target)  # the variant's renderer, graphs and results went with measure's frame
            for path, (ms, stages, error) in measured.items():
                click.echo(f"{path + ' (' + variant + ')':44s}{ms:10.2f}{1000 / ms:9.1f}{reference_ms / ms:13.2f}x")
                click.echo(f"    stages (mean): {stages}")
                if error:
                    click.echo(f"    CUDA graphs fell back to eager: {error}")
                if path not in best or ms < best[path][0]:
                    best[path] = (ms, variant)
    if preset_name == "paper" and checkpoint is None:
        (orbit_ms, orbit_variant), (seed_ms, seed_variant) = best["orbit"], best["new seed"]
        orbit_verdict = "met" if 1000 / orbit_ms >= GOAL_ORBIT_FPS else "missed"
        seed_verdict = "met" if seed_ms < GOAL_SEED_MS else "missed"
        click.echo(
            f"goals at 512x512: orbit >= {GOAL_ORBIT_FPS:.0f} FPS {orbit_verdict} ({1000 / orbit_ms:.1f}, "
            f"{orbit_variant}); new seed < {GOAL_SEED_MS:.0f} ms {seed_verdict} ({seed_ms:.1f}, {seed_variant})"
        )


def measure(
    source: str, target: torch.device, precision: str, graphs: bool, frames: int, quality: str = "full"
) -> dict[str, tuple[float, str, str | None]]:
    """Median ms per frame, mean stage times and any CUDA graph fallback, for orbiting and new seeds,
    through a fresh renderer (so no caches or graphs carry over from another variant)."""
    state = AppState()
    state.model.source, state.model.precision, state.model.cuda_graphs = source, precision, graphs
    renderer = Renderer()
    results: dict[str, list[RenderResult]] = {"orbit": [], "new seed": []}

    def orbit(index: int) -> None:
        # Warm-up frames (negative indices) look from yaws no timed frame uses, so nothing is cached.
        state.edit = state.edit.with_camera(
            yaw=(index * 360.0 / frames + 1.0) % 360.0 if index >= 0 else -0.123 * index
        )
        results["orbit"].append(renderer(build_request(state, str(target)), quality))

    def new_seed(index: int) -> None:
        state.edit = state.edit.replace(latent=Latent.from_seed(1000 + index))
        results["new seed"].append(renderer(build_request(state, str(target)), quality))

    times = {"orbit": timed(target, frames, orbit)}
    state.edit = state.edit.with_camera(yaw=0.0)
    times["new seed"] = timed(target, frames, new_seed)
    measured = {}
    for path, values in times.items():
        errors = [r.error for r in results[path] if r.error]
        if errors:
            raise click.ClickException(f"{path}: {errors[0]}")
        measured[path] = (
            statistics.median(values) * 1000,
            stage_means(results[path][2:]),
            results[path][-1].graph_error,
        )
    renderer.clear()
    return measured


def free_memory(target: torch.device) -> None:
    gc.collect()
    if target.type == "cuda":
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
