"""``panohead invert``: one portrait photo, or several of one head, -> latent, tuned generator and previews of
the 360-degree head."""

from __future__ import annotations

import csv
import signal
import threading
import time
from pathlib import Path

import click
import torch
from tqdm import tqdm

from panohead.atomic import atomic_path
from panohead.checkpoint import save_generator
from panohead.cli.common import (
    Number,
    checkpoint_option,
    device_option,
    open_generator,
    output_folder,
    output_option,
    progress_bar,
    user_errors,
)
from panohead.cli.surface import grid_resolution_option
from panohead.export.field import HeadField
from panohead.export.heads import synthesize_head
from panohead.export.mesh import MESH_FORMATS, extract_mesh, save_mesh
from panohead.export.video import Turntable, export_turntable
from panohead.images import image_grid, save_image, to_uint8
from panohead.inversion import (
    SPACES,
    InversionSettings,
    adjust_portrait,
    load_image,
    parse_label,
    perceptual_loss,
    prepare_portrait,
)
from panohead.inversion import invert as run_inversion
from panohead.inversion.encoder import open_encoder
from panohead.inversion.estimate import estimate_time
from panohead.inversion.inputs import Portrait, target_tensor
from panohead.inversion.pipeline import MAX_PORTRAITS
from panohead.inversion.progress import InversionStep
from panohead.inversion.settings import DEFAULT_STEPS, default_steps
from panohead.model_source import ModelSource
from panohead.precision import OPTIMISATION
from panohead.views.camera import orbit_camera

VIEW_YAWS = (0, 90, 180, 270)
ETA_AFTER_STEPS = 3  # after this many steps of a stage, refine the estimate from their measured time


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@checkpoint_option
@device_option
@click.option(
    "--encoder",
    "encoder_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Encoder from 'panohead train-encoder' to start from (default: the bundled model's, when it ships one).",
)
@click.option("--no-encoder", is_flag=True, help="Start from the mean head even when an encoder is available.")
@click.option(
    "--label",
    multiple=True,
    help="Camera of a pre-aligned crop: 25 numbers (16 cam2world + 9 intrinsics); once per photo, in order.",
)
@click.option(
    "--yaw",
    type=Number(),
    multiple=True,
    help="Camera yaw of a pre-aligned crop in degrees (0 = front); once per photo, in order.",
)
@click.option(
    "--pitch",
    type=Number(-89, 89),
    multiple=True,
    help="Camera pitch of a pre-aligned crop in degrees (positive = above); once per photo, in order.",
)
@click.option(
    "--refine-cameras/--fixed-cameras",
    default=None,
    help="Refine each photo's yaw and pitch (up to 15 degrees) with the latent (default: on for several photos).",
)
@click.option(
    "--align/--no-align",
    default=None,
    help="Detect and align the face (default: only when no camera is given; with --align, --yaw/--pitch "
    "override the estimate; --no-align alone means a frontal pre-aligned crop).",
)
@click.option(
    "--zoom", type=Number(0.05, 20), default=1.0, show_default=True, help="Tighten (> 1) or widen (< 1) the crop."
)
@click.option(
    "--shift",
    type=(Number(-1, 1), Number(-1, 1)),
    default=(0.0, 0.0),
    show_default=True,
    help="Move the crop by fractions of its size (x right, y down).",
)
@click.option(
    "--face",
    "face_index",
    type=click.IntRange(1),
    default=None,
    help="Which face to align when the photo has several (1 = the most confident; they are listed).",
)
@click.option(
    "--steps",
    type=click.IntRange(0),
    default=None,
    help="Stage 1 latent optimisation steps (default: 500 on a GPU, 100 on a CPU; from an encoder 100 and 30).",
)
@click.option(
    "--pti-steps",
    type=click.IntRange(0),
    default=None,
    help="Stage 2 pivotal tuning steps, 0 skips it (default: 350 on a GPU, 50 on a CPU; from an encoder 150 and 30).",
)
@click.option(
    "--space",
    type=click.Choice(SPACES),
    default=None,
    help="Latent optimised in stage 1 (default: z, or w+ from an encoder).",
)
@click.option(
    "--lr",
    type=Number(min=0, min_open=True),
    default=InversionSettings.lr,
    show_default=True,
    help="Stage 1 learning rate.",
)
@click.option(
    "--pti-lr",
    type=Number(min=0, min_open=True),
    default=InversionSettings.pti_lr,
    show_default=True,
    help="Stage 2 learning rate.",
)
@click.option(
    "--precision",
    type=click.Choice(OPTIMISATION),
    default=InversionSettings.precision,
    show_default=True,
    help="tf32: TF32 tensor cores for matmuls/convolutions on CUDA (on a CPU both are fp32).",
)
@click.option(
    "--locality-every",
    type=click.IntRange(1),
    default=InversionSettings.locality_every,
    show_default=True,
    help="Apply PTI's locality regulariser on every N-th step (1: every step, twice the cost per step).",
)
@click.option(
    "--cuda-graphs/--no-cuda-graphs",
    default=True,
    show_default=True,
    help="Replay each optimisation step from a CUDA graph (CUDA only; falls back to eager on failure).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the latent prior and the noise.")
@click.option(
    "--vgg-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="ImageNet VGG16 state dict (default: the torch hub cache's vgg16-397923af.pth).",
)
@click.option(
    "--lpips-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="LPIPS v0.1 VGG linear heads (default: lpips_vgg_v0.1.pth in the torch hub cache).",
)
@click.option(
    "--video-frames",
    type=click.IntRange(0, 3600),
    default=120,
    show_default=True,
    help="Frames of the 360-degree turntable.mp4 of the result (0: no video).",
)
@click.option(
    "--mesh",
    "mesh_format",
    type=click.Choice(MESH_FORMATS),
    default=None,
    help="Also write a coloured mesh of the result (mesh.ply/.obj/.glb).",
)
@grid_resolution_option(256, "Density grid samples per axis for --mesh.", "--mesh-resolution")
@output_option("inversion", "--out")
@user_errors
def invert(
    images,
    checkpoint,
    device,
    encoder_path,
    no_encoder,
    label,
    yaw,
    pitch,
    refine_cameras,
    align,
    zoom,
    shift,
    face_index,
    steps,
    pti_steps,
    space,
    lr,
    pti_lr,
    precision,
    locality_every,
    cuda_graphs,
    seed,
    vgg_weights,
    lpips_weights,
    video_frames,
    mesh_format,
    mesh_resolution,
    outdir,
):
    """Reconstruct a full 360-degree head from one portrait, or from 1 to 8 photos of one head inverted jointly
    (one latent and one tuned generator; each photo aligned with its own camera), by latent optimisation
    then pivotal tuning, started from an encoder's prediction when one is available.

    Writes aligned.png, reconstruction.png (per photo: target | [encoder |] stage 1 | final), views.png
    (yaw 0/90/180/270), losses.csv, latent.npz and generator.safetensors (the tuned model: reopen the head
    with 'python visualizer.py -c OUT/generator.safetensors' and drop OUT/latent.npz on the window),
    turntable.mp4 and, with --mesh, a coloured mesh. Ctrl-C stops early and still writes the best result so far.
    """
    if len(images) > MAX_PORTRAITS:
        raise click.UsageError(f"{len(images)} photos given: invert 1 to {MAX_PORTRAITS} photos of one head")
    for name, values in (("--label", label), ("--yaw", yaw), ("--pitch", pitch)):
        if values and len(values) != len(images):
            raise click.UsageError(f"{name} given {len(values)} times for {len(images)} photos: give it once per photo")
    photos = [load_image(image) for image in images]
    folder = output_folder(outdir, "inversion")
    generator, target, source = open_generator(checkpoint, device)
    encoder, encoder_source = _open_encoder(generator, source, encoder_path, no_encoder, target)
    defaults = default_steps(target.type, encoder is not None)
    announce = target.type != "cuda" and (steps is None or pti_steps is None)
    steps, pti_steps = defaults[0] if steps is None else steps, defaults[1] if pti_steps is None else pti_steps
    space = space or ("w+" if encoder is not None else "z")
    if encoder is not None and space == "z":
        raise click.UsageError("an encoder predicts w+: use --space w or w+ with it (or --no-encoder)")
    settings = InversionSettings(
        space=space,
        steps=steps,
        pti_steps=pti_steps,
        lr=lr,
        pti_lr=pti_lr,
        seed=seed,
        precision=precision,
        locality_every=locality_every,
        cuda_graphs=cuda_graphs,
        refine_cameras=len(images) > 1 if refine_cameras is None else refine_cameras,
    )
    cfg = generator.config
    portraits = []
    for index, (image, photo) in enumerate(zip(images, photos, strict=True)):
        camera = {
            "label": label[index] if label else None,
            "yaw": yaw[index] if yaw else None,
            "pitch": pitch[index] if pitch else None,
        }
        portraits.append(_portrait(image, photo, cfg, camera, align, zoom, shift, face_index))
    if announce:
        click.echo(
            f"on {target.type}: {steps} + {pti_steps} steps by default (the paper's {DEFAULT_STEPS['cuda'][0]} + "
            f"{DEFAULT_STEPS['cuda'][1]} need a GPU; set --steps/--pti-steps to change)"
        )
    if encoder is not None:
        click.echo(f"starting from the encoder {encoder_source} (space {space})")
    goals = [target_tensor(p.crop, cfg.image_resolution)[0] for p in portraits]
    save_image(folder / "aligned.png", image_grid([to_uint8(goal) for goal in goals], len(goals)))

    perceptual = perceptual_loss(vgg_weights, lpips_weights, target)
    estimate = estimate_time(generator, portraits, settings, perceptual)
    click.echo(f"{estimate.describe(target.type)}; Ctrl-C keeps the best so far")
    rows: list[tuple[str, int, float]] = []
    bars: dict[str, tqdm] = {}
    titles = {"latent": "stage 1 latent", "pti": "stage 2 PTI"}
    started = {"latent": time.perf_counter()}

    def report(progress: InversionStep) -> None:
        rows.append((progress.stage, progress.step, progress.losses["loss"]))
        started.setdefault(progress.stage, time.perf_counter())
        done = sum(1 for row in rows if row[0] == progress.stage)
        if done == ETA_AFTER_STEPS:  # refine the estimate with the run's own steps
            per_step = (time.perf_counter() - started[progress.stage]) / done
            left = per_step * (progress.total - done) + (
                estimate.pti_steps * estimate.pti_step if progress.stage == "latent" else 0.0
            )
            tqdm.write(f"{titles[progress.stage]}: {per_step:.2f} s per step measured, about {left / 60:.1f} min left")
        if progress.stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[progress.stage] = tqdm(total=progress.total, desc=titles[progress.stage], unit="step")
        bars[progress.stage].update(1)
        bars[progress.stage].set_postfix(loss=f"{progress.losses['loss']:.4f}", best=f"{progress.best:.4f}")

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set() if not stop.is_set() else previous_handler())
    try:
        result = run_inversion(generator, portraits, settings, perceptual, report, stop, encoder)
    finally:
        signal.signal(signal.SIGINT, previous)
        for bar in bars.values():
            bar.close()
    if result.cancelled:
        click.echo("stopped by Ctrl-C: writing the best result so far")
    if settings.refine_cameras:
        for image, before, after in zip(images, portraits, result.labels.cpu(), strict=True):
            turned = Portrait(before.crop, after.numpy())
            click.echo(
                f"{image}: camera refined to yaw {turned.yaw_degrees:.1f}, pitch {turned.pitch_degrees:.1f} degrees"
            )

    names = ", ".join(Path(image).name for image in images)
    result.save_latent(folder / "latent.npz", source=", ".join(map(str, images)))
    save_generator(
        folder / "generator.safetensors",
        result.generator,
        extra={"inverted_from": names, "base_model": str(source)},
    )
    with torch.no_grad():
        views = result.render(torch.cat([orbit_camera(y, 0.0, cfg, device=target) for y in VIEW_YAWS]))
    columns = [goals, *([list(result.start_preview)] if result.start_preview is not None else [])]
    columns += [list(result.latent_preview), list(result.preview)]
    tiles = [to_uint8(column[row]) for row in range(len(goals)) for column in columns]
    save_image(folder / "reconstruction.png", image_grid(tiles, len(columns)))
    save_image(folder / "views.png", image_grid(list(to_uint8(views)), len(VIEW_YAWS)))
    _write_losses(folder / "losses.csv", rows)
    head = synthesize_head(result.generator, result.ws)
    if video_frames:
        with progress_bar(f"turntable {video_frames} frames") as progress:
            export_turntable(
                result.generator, [head], folder / "turntable.mp4", Turntable(frames=video_frames), progress
            )
    if mesh_format:
        with progress_bar(f"mesh {mesh_resolution}^3") as progress:
            save_mesh(
                extract_mesh(HeadField(result.generator, head), mesh_resolution, progress=progress),
                folder / f"mesh.{mesh_format}",
            )
    pti = "skipped" if result.pti_loss is None else f"{result.pti_loss:.4f}"
    click.echo(
        f"wrote {folder} (loss {result.loss_name}: stage 1 {result.latent_loss:.4f}, PTI {pti}; model: {source})"
    )


def _open_encoder(generator, source: ModelSource, path, disabled, device):
    """The encoder to start from and where it came from: --encoder, else the bundled model's (if shipped)."""
    if disabled:
        return None, ""
    return open_encoder(generator, path, source.kind == "bundled", device)


def _portrait(image, photo, cfg, camera: dict, align, zoom, shift, face_index) -> Portrait:
    """One photo aligned (or taken as a pre-aligned crop at its given camera) and corrected by hand."""
    given = any(value is not None for value in camera.values())
    auto = align if align is not None else not given
    try:
        if auto:
            portrait = prepare_portrait(photo, cfg, face=face_index)
            portrait = adjust_portrait(portrait, cfg, zoom, shift, camera["yaw"], camera["pitch"])
        else:
            # --no-align without a camera: a frontal pre-aligned crop.
            portrait = prepare_portrait(
                photo,
                cfg,
                parse_label(camera["label"]) if camera["label"] else None,
                0.0 if not given else camera["yaw"],
                camera["pitch"],
            )
            portrait = adjust_portrait(portrait, cfg, zoom, shift)
    except ValueError as error:
        raise ValueError(f"{image}: {error}") from None
    angles = f"camera yaw {portrait.yaw_degrees:.1f}, pitch {portrait.pitch_degrees:.1f} degrees"
    click.echo(f"{image}: {portrait.message}; {angles}")
    return portrait


def previous_handler() -> None:
    """A second Ctrl-C while the first is being honoured quits at once."""
    raise KeyboardInterrupt


def _write_losses(path: Path, rows: list[tuple[str, int, float]]) -> None:
    """Per-step reconstruction losses of both stages, for plotting."""
    with atomic_path(path) as temp, open(temp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stage", "step", "loss"])
        writer.writerows(rows)
