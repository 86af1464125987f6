"""``panohead browse``: score seeds for artifacts, rank them, flag the worst, write a table and a contact sheet."""

from __future__ import annotations

import time

import click
from tqdm import tqdm

from panohead.browser.sheet import LAYOUTS
from panohead.browser.table import SORT_KEYS
from panohead.cli.common import (
    Number,
    checkpoint_option,
    device_option,
    open_generator,
    output_folder,
    output_option,
    parse_seeds,
    psi_option,
    seeds_option,
    user_errors,
)


@click.command()
@checkpoint_option
@device_option
@seeds_option("Seeds to browse, e.g. '0-99' or '5,7,100-199'.", default="0-99")
@psi_option()
@click.option(
    "--sort",
    "sort_key",
    default="mirror",
    show_default=True,
    type=click.Choice(tuple(SORT_KEYS)),
    help="Rank by the mirrored-face score, by multi-view consistency, or by seed.",
)
@click.option("--best-first", is_flag=True, help="Best heads first (default: the worst first).")
@click.option(
    "--max-mirror", default=None, type=Number(-1, 1), help="Keep heads whose mirrored-face score is at most this."
)
@click.option(
    "--min-consistency", default=None, type=Number(), help="Keep heads whose consistency PSNR (dB) is at least this."
)
@click.option(
    "--worst",
    "worst_fraction",
    default=0.1,
    show_default=True,
    type=Number(0, 1),
    help="Flag this fraction of the seeds: the highest mirrored-face scores and the lowest consistencies.",
)
@click.option(
    "--layout",
    default="front-back",
    show_default=True,
    type=click.Choice(tuple(LAYOUTS)),
    help="Contact sheet columns: front and back, or the 4-yaw strip (0, 90, 180, 270).",
)
@click.option(
    "--thumbnail", default=64, show_default=True, type=click.IntRange(16, 512), help="Thumbnail side in pixels."
)
@click.option(
    "--resolution",
    default=None,
    type=click.IntRange(16, 1024),
    help="Neural rendering resolution of the scored views (default: the model's on a GPU, 32 on the CPU, as in "
    "the viewer's Browse tab; smaller is faster).",
)
@click.option(
    "--batch",
    "batch_size",
    default=None,
    type=click.IntRange(1),
    help="Heads per batch (default: 16 on a GPU, 1 on the CPU).",
)
@output_option("browse")
@user_errors
def browse(
    checkpoint,
    device,
    seeds,
    truncation,
    sort_key,
    best_first,
    max_mirror,
    min_consistency,
    worst_fraction,
    layout,
    thumbnail,
    resolution,
    batch_size,
    outdir,
):
    """Render each seed from four yaws, score it (mirrored face, multi-view consistency) and rank.

    Writes browse.csv and browse.json (the kept seeds, ranked) and contact_sheet.png to the output folder.
    """
    from panohead.browser import contact_sheet, default_resolution, filtered, ranked, scan_seeds, worst, write_table
    from panohead.images import save_image

    seed_list = parse_seeds(seeds)
    folder = output_folder(outdir, "browse")
    generator, _, source = open_generator(checkpoint, device)
    resolution = resolution or default_resolution(generator.device)
    heads = {}
    started = time.perf_counter()
    with tqdm(total=len(seed_list), desc="browse", unit="seed") as bar:
        for batch in scan_seeds(generator, seed_list, truncation, batch_size, thumbnail, resolution):
            heads.update((head.score.seed, head) for head in batch)
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    scores = [head.score for head in heads.values()]
    flagged = worst(scores, worst_fraction)
    order = ranked(filtered(scores, max_mirror, min_consistency), sort_key, worst_first=not best_first)
    write_table(folder / "browse.csv", order, flagged)
    write_table(folder / "browse.json", order, flagged)
    if order:
        save_image(folder / "contact_sheet.png", contact_sheet([heads[s.seed] for s in order], layout, flagged))
    click.echo(
        f"browsed {len(seed_list)} seeds in {seconds:.1f} s ({len(seed_list) / seconds:.2f} seeds/s, model: {source}); "
        f"kept {len(order)}, flagged {len(flagged)}"
    )
    for score in order[:5]:
        mark = " (flagged)" if score.seed in flagged else ""
        click.echo(f"seed {score.seed:6d}  mirror {score.mirror:6.3f}  consistency {score.consistency:5.2f} dB{mark}")
    click.echo(f"wrote {folder / 'browse.csv'}, browse.json" + (" and contact_sheet.png" if order else ""))
