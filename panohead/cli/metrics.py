"""``panohead metrics``: the paper's evaluation protocol and weight-free 360-degree measures, as JSON lines."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Literal, get_args

import click
import torch

from panohead.cli.common import (
    checkpoint_option,
    device_option,
    open_generator,
    output_folder,
    parse_seeds,
    psi_option,
    user_errors,
)

Metric = Literal["mirror", "mv", "mask", "id", "seg", "fid", "kid", "is"]  # in run order (DESCRIPTIONS)
METRICS: tuple[Metric, ...] = get_args(Metric)
DESCRIPTIONS = """\b
  mirror  mirrored-face score: back view vs mirrored front view (weight-free)
  mv      multi-view consistency: views warped into their neighbours through depth (weight-free)
  mask    mask MSE against the dataset's ground-truth masks (needs --data)
  id      identity consistency of face embeddings across views (needs --face-model)
  seg     segmentation MSE: generated masks vs a segmentation model's masks (needs --seg-model)
  fid     FID all / front / back (needs Inception-v3 weights and --data)
  kid     KID all / front / back (needs Inception-v3 weights and --data)
  is      Inception Score all / front / back (needs Inception-v3 weights)"""


class Unavailable(Exception):
    """A metric's inputs (dataset, masks) were not given; the message says which option provides them."""


def parse_metrics(text: str) -> tuple[list[Metric], bool]:
    """'all' or a comma list -> (metrics in run order, whether the user named them explicitly)."""
    if text.strip() == "all":
        return list(METRICS), False
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown metric {unknown[0] if unknown else text!r}; choose from all, {', '.join(METRICS)}",
            param_hint="--metrics",
        )
    return [m for m in METRICS if m in names], True


def open_dataset(images: str, masks: str | None, resolution: int):
    """The dataset at the generator's image resolution, so real and generated images meet at one size."""
    from panohead.data.dataset import HeadDataset

    return HeadDataset(images, masks=masks, resolution=resolution)


class Recorder:
    """Writes one JSON line per metric group with the run's context and echoes the numbers."""

    def __init__(self, out: Path, context: dict) -> None:
        self.out, self.context = out, context

    def __call__(self, metric: str, started: float, results: dict, **extra) -> None:
        from panohead.metrics.results import append_record

        record = {
            "metric": metric,
            **self.context,
            **extra,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - started, 2),
            "results": results,
        }
        append_record(self.out, record)
        for key, value in results.items():
            click.echo(f"{key:24s} {value:.6g}" if isinstance(value, float) else f"{key:24s} {value}")


@click.command(epilog=DESCRIPTIONS)
@checkpoint_option
@device_option
@click.option(
    "--metrics",
    "metric_text",
    default="all",
    show_default=True,
    help="Comma list of metrics (below), or 'all' = every metric whose inputs are available.",
)
@click.option(
    "--data", type=click.Path(exists=True), default=None, help="Dataset images (folder or zip with dataset.json)."
)
@click.option(
    "--masks",
    type=click.Path(exists=True),
    default=None,
    help="The dataset's foreground masks (default: the <data>_masks folder or zip beside it).",
)
@click.option(
    "--num-samples",
    default=50000,
    show_default=True,
    type=click.IntRange(2),
    help="Generated images per split (all / front / back) for FID, KID and IS.",
)
@click.option(
    "--max-real", default=None, type=click.IntRange(2), help="Use at most this many dataset images for FID/KID."
)
@click.option(
    "--mask-samples",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Generated heads for the mask and segmentation MSEs.",
)
@click.option("--seeds", default="0-99", show_default=True, help="Heads for mirror, mv and id, e.g. '0-99'.")
@click.option("--seed", default=0, show_default=True, help="Seed for the latents and cameras of the sampled metrics.")
@psi_option(1.0, "Truncation psi (1 = none, as in the paper's FID).")
@click.option("--batch", "batch_size", default=16, show_default=True, type=click.IntRange(1), help="Images per batch.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0), help="Dataset reading processes.")
@click.option(
    "--inception",
    type=click.Path(dir_okay=False),
    default=None,
    help="FID Inception-v3 weights (default: pt_inception-2015-12-05-6726825d.pth in $TORCH_HOME/hub/checkpoints).",
)
@click.option(
    "--face-model",
    type=click.Path(dir_okay=False),
    default=None,
    help="Face embedding model: ArcFace IResNet state dict, or a torch.export/TorchScript file.",
)
@click.option(
    "--seg-model",
    type=click.Path(dir_okay=False),
    default=None,
    help="Segmentation model (torch.export .pt2 or TorchScript): images in [-1, 1] -> foreground probability.",
)
@click.option(
    "--out",
    "-o",
    default=None,
    help="JSON-lines file the results are appended to (default: out/metrics.jsonl in ~/panohead-studio "
    "or $PANOHEAD_STUDIO_OUTPUT_DIR).",
)
@user_errors
def metrics(
    checkpoint,
    device,
    metric_text,
    data,
    masks,
    num_samples,
    max_real,
    mask_samples,
    seeds,
    seed,
    truncation,
    batch_size,
    workers,
    inception,
    face_model,
    seg_model,
    out,
):
    """Measure a checkpoint: FID / KID / IS (all, front, back), mask and segmentation MSE, identity
    consistency, and the weight-free mirrored-face and multi-view consistency scores.

    Metrics whose weights or data are missing are skipped with a message saying what is needed; the
    others still run. Each metric appends one JSON line to --out.
    """
    from panohead.metrics.weights import MissingWeightsError

    wanted, explicit = parse_metrics(metric_text)
    seed_list = parse_seeds(seeds)
    out_path = Path(out) if out else output_folder(None) / "metrics.jsonl"
    if not out_path.parent.is_dir():
        raise click.ClickException(f"{out_path.parent}: output folder for --out does not exist")
    generator, target, source = open_generator(checkpoint, device)
    generator.eval().requires_grad_(False)
    dataset = open_dataset(data, masks, generator.config.image_resolution) if data else None
    record = Recorder(
        out_path, {"checkpoint": str(source), "dataset": data, "seed": seed, "psi": truncation, "device": str(target)}
    )
    skipped: dict[str, str] = {}
    runners = {"mirror": run_mirror, "mv": run_multiview, "mask": run_mask, "id": run_identity, "seg": run_segmentation}
    for name in wanted:
        if name not in runners:
            continue
        try:
            runners[name](
                generator=generator,
                dataset=dataset,
                seeds=seed_list,
                seeds_text=seeds,
                seed=seed,
                psi=truncation,
                batch_size=batch_size,
                mask_samples=mask_samples,
                face_model=face_model,
                seg_model=seg_model,
                record=record,
            )
        except (MissingWeightsError, Unavailable) as reason:
            skipped[name] = str(reason)
    distribution = [m for m in ("fid", "kid", "is") if m in wanted]
    if distribution:
        try:
            skipped.update(
                run_distribution(
                    distribution,
                    generator,
                    dataset,
                    inception,
                    num_samples,
                    max_real,
                    seed,
                    truncation,
                    batch_size,
                    workers,
                    record,
                )
            )
        except MissingWeightsError as reason:
            skipped[", ".join(distribution)] = str(reason)
    for names, reason in skipped.items():
        click.echo(f"skipped {names}: {reason}", err=True)
    click.echo(f"appended results to {out_path}")
    if explicit and skipped:
        raise click.ClickException(f"could not compute {', '.join(skipped)} (reasons above)")


def run_mirror(generator, seeds, seeds_text, psi, batch_size, record, **_):
    from panohead.metrics.mirror import mirrored_face_scores

    started = time.time()
    scores = mirrored_face_scores(generator, seeds, psi, batch_size, progress=True)
    valid = scores[torch.isfinite(scores)]
    record(
        "mirror",
        started,
        {
            "mirrored_face": float(valid.mean()) if len(valid) else float("nan"),
            "mirrored_face_std": float(valid.std()) if len(valid) > 1 else float("nan"),
            "mirrored_face_scored_heads": int(len(valid)),
        },
        num_samples=len(seeds),
        seeds=seeds_text,
    )


def run_multiview(generator, seeds, seeds_text, psi, batch_size, record, **_):
    from panohead.metrics.consistency import multiview_consistency

    started = time.time()
    scores = multiview_consistency(generator, seeds, psi=psi, batch_size=max(1, batch_size // 4), progress=True)
    record("mv", started, {f"mv_{k}": v for k, v in scores.items()}, num_samples=len(seeds), seeds=seeds_text)


def run_mask(generator, dataset, seed, psi, batch_size, mask_samples, record, **_):
    from panohead.metrics.masks import mask_error

    if dataset is None:
        raise Unavailable("needs a dataset with ground-truth masks (--data, and --masks unless they sit beside it)")
    started = time.time()
    value = mask_error(generator, dataset, mask_samples, seed, psi, batch_size, progress=True)
    record("mask", started, {"mask_mse": value}, num_samples=min(mask_samples, len(dataset)))


def run_identity(generator, seeds, seeds_text, psi, batch_size, face_model, record, **_):
    from panohead.metrics.faces import identity_consistency, load_face_model
    from panohead.metrics.weights import find_weights

    path = find_weights(face_model, None, "identity consistency (face embeddings)", "--face-model")
    embed = load_face_model(path, generator.device)
    started = time.time()
    value = identity_consistency(generator, embed, seeds, psi=psi, batch_size=max(1, batch_size // 4), progress=True)
    record("id", started, {"identity": value}, num_samples=len(seeds), seeds=seeds_text, face_model=str(path))


def run_segmentation(generator, dataset, seed, psi, batch_size, mask_samples, seg_model, record, **_):
    from panohead.metrics.distribution import split_cameras
    from panohead.metrics.masks import load_segmenter, sample_indices, segmentation_mse
    from panohead.metrics.weights import find_weights

    path = find_weights(seg_model, None, "segmentation MSE (a segmentation model)", "--seg-model")
    segmenter = load_segmenter(str(path), generator.device)
    started = time.time()
    if dataset is None:  # cameras all round the head
        _, cameras = split_cameras(generator, "all", mask_samples, seed, None)
    else:  # the cameras of randomly chosen dataset images
        cameras = dataset.labels[sample_indices(len(dataset), mask_samples, seed)]
    value = segmentation_mse(generator, segmenter, cameras, seed, psi, batch_size, progress=True)
    record("seg", started, {"seg_mse": value}, num_samples=cameras.shape[0], seg_model=str(path))


def run_distribution(
    wanted, generator, dataset, inception, num_samples, max_real, seed, psi, batch_size, workers, record
) -> dict[str, str]:
    """FID / KID / IS in one pass over the real and generated images; returns what was skipped and why."""
    from panohead.metrics.distribution import distribution_metrics
    from panohead.metrics.inception import FID_WEIGHTS_FILE, load_inception
    from panohead.metrics.weights import find_weights

    path = find_weights(
        inception, FID_WEIGHTS_FILE, f"{'/'.join(m.upper() for m in wanted)} (Inception-v3)", "--inception"
    )
    skipped = {}
    needs_real = [m for m in wanted if m in ("fid", "kid")]
    if needs_real and dataset is None:
        skipped[", ".join(needs_real)] = "FID and KID compare with real images: pass the dataset with --data"
        wanted = [m for m in wanted if m not in needs_real]
        if not wanted:
            return skipped
    extractor = load_inception(path, generator.device)
    started = time.time()
    results, notes = distribution_metrics(
        generator,
        extractor,
        dataset if needs_real else None,
        num_samples,
        seed,
        psi,
        batch_size,
        workers,
        max_real,
        progress=True,
    )
    for note in notes:
        if any(note.startswith(m) for m in wanted):
            click.echo(f"note: {note}", err=True)
    keep = {k: v for k, v in results.items() if k.split("_")[0] in wanted or k.startswith("real_")}
    record("+".join(wanted), started, keep, num_samples=num_samples, inception=str(path))
    return skipped
