"""Frame rates of the visualizer's renderer: orbiting (cached ws and tri-grid) and new seeds (full
synthesis), against the uncached reference path (G.forward every frame), measured in the same run.

    python bench/bench_viewer.py --preset paper --device cuda --frames 100
    python bench/bench_viewer.py --preset tiny --device cpu --frames 20      # a quick smoke run

Every frame goes through viz.renderer.Renderer exactly as in the app, including the conversion to
uint8 and the copy to host memory that the texture upload needs. Models are randomly initialised
(speed does not depend on the weights) unless --checkpoint is given.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

import click
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import device_name  # noqa: E402
from panohead.camera import orbit_label  # noqa: E402
from panohead.config import PRESETS  # noqa: E402
from panohead.devices import pick_device  # noqa: E402
from panohead.generator import seed_latent  # noqa: E402
from viz.renderer import Renderer, RenderResult  # noqa: E402
from viz.request import build_request  # noqa: E402
from viz.state import AppState  # noqa: E402
from viz.views import to_rgba8, to_unit  # noqa: E402

GOAL_ORBIT_FPS, GOAL_SEED_MS = 60.0, 50.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, frames: int, frame) -> list[float]:
    """Seconds per call of ``frame(index)`` for ``frames`` calls, after two untimed warm-up calls."""
    for index in range(2):
        frame(index)
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


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="paper", show_default=True)
@click.option("--checkpoint", default=None, help="Measure this checkpoint instead of a random-init preset.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "tf32", "fp16"]), default="fp32", show_default=True)
@click.option("--frames", default=100, show_default=True, type=click.IntRange(1))
def main(preset_name: str, checkpoint: str | None, device: str, precision: str, frames: int) -> None:
    target = pick_device(device)
    state = AppState()
    state.model.source = checkpoint or f"random:{preset_name}"
    state.model.precision = precision
    renderer = Renderer()
    first = renderer(build_request(state, str(target)), "full")
    if first.error:
        raise click.ClickException(first.error)
    info = first.model
    G, _ = renderer.models.items[(state.model.source, str(target))]
    name = device_name(target)
    click.echo(f"bench_viewer: {info.name}, {info.image_resolution}x{info.image_resolution} image, "
               f"{info.neural_resolution}^2 neural, D={info.grid_depth}, on {name}, {precision}, {frames} frames")

    orbit_results: list[RenderResult] = []

    def orbit(index: int) -> None:
        state.camera.yaw = (index * 360.0 / frames + 1.0) % 360.0
        orbit_results.append(renderer(build_request(state, str(target)), "full"))

    seed_results: list[RenderResult] = []

    def new_seed(index: int) -> None:
        state.latent.seed = 1000 + index
        seed_results.append(renderer(build_request(state, str(target)), "full"))

    cfg = G.config
    frontal = orbit_label(0.0, 0.0, cfg.camera_radius, cfg.look_at, cfg.focal, device=target)

    def reference(index: int) -> None:
        """What a viewer without caches does: the whole generator every frame."""
        with torch.inference_mode():
            camera = orbit_label(math.radians(index * 360.0 / frames), 0.0, cfg.camera_radius, cfg.look_at,
                                 cfg.focal, device=target)
            out = G(seed_latent(0, cfg.z_dim, target), frontal, camera, psi=state.latent.psi)
            to_rgba8(to_unit(out["image"][0])).cpu()

    reference_times = timed(target, frames, reference)
    orbit_times = timed(target, frames, orbit)
    state.camera.yaw = 0.0
    seed_times = timed(target, frames, new_seed)
    reference_ms = statistics.median(reference_times) * 1000
    click.echo(f"{'path':34s}{'ms/frame':>10s}{'FPS':>9s}{'vs uncached':>14s}")
    for label, times in (("uncached reference (G.forward)", reference_times),
                         ("orbit (cached ws + tri-grid)", orbit_times),
                         ("new seed (full synthesis)", seed_times)):
        ms = statistics.median(times) * 1000
        click.echo(f"{label:34s}{ms:10.2f}{1000 / ms:9.1f}{reference_ms / ms:13.2f}x")
    click.echo(f"orbit stages (mean): {stage_means(orbit_results[2:])}")
    click.echo(f"seed stages (mean):  {stage_means(seed_results[2:])}")
    if preset_name == "paper" and checkpoint is None:
        orbit_fps = 1000 / (statistics.median(orbit_times) * 1000)
        seed_ms = statistics.median(seed_times) * 1000
        orbit_verdict = "met" if orbit_fps >= GOAL_ORBIT_FPS else "missed"
        seed_verdict = "met" if seed_ms < GOAL_SEED_MS else "missed"
        click.echo(f"goals at 512x512: orbit >= {GOAL_ORBIT_FPS:.0f} FPS {orbit_verdict} ({orbit_fps:.1f}); "
                   f"new seed < {GOAL_SEED_MS:.0f} ms {seed_verdict} ({seed_ms:.1f})")


if __name__ == "__main__":
    main()
