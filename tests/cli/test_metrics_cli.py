import json
import math

import pytest
import torch
from click.testing import CliRunner
from metrics_scenes import RandomFeatures, smooth_pattern

from panohead.checkpoint import save_generator
from panohead.cli import main
from panohead.data.writer import DatasetWriter
from panohead.images import to_uint8
from panohead.metrics.inception import FID_WEIGHTS_FILE, InceptionV3, load_inception
from panohead.views.camera import orbit_camera


@pytest.fixture
def checkpoint(tmp_path, tiny_generator):
    path = tmp_path / "tiny.safetensors"
    save_generator(path, tiny_generator)
    return path


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def run(*args):
    return CliRunner().invoke(main, ["metrics", *map(str, args)])


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_missing_weights_are_named_and_weight_free_metrics_still_run(tmp_path, checkpoint, empty_cache):
    out = tmp_path / "metrics.jsonl"
    result = run("-c", checkpoint, "--seeds", "0-1", "--out", out)
    assert result.exit_code == 0, result.output
    assert (
        f"skipped fid, kid, is: FID/KID/IS (Inception-v3) needs the weights file {FID_WEIGHTS_FILE}: "
        f"put it at {empty_cache / FID_WEIGHTS_FILE} or pass --inception FILE"
    ) in result.output
    assert (
        "skipped id: identity consistency (face embeddings) needs a model file: pass --face-model FILE" in result.output
    )
    lines = {r["metric"]: r for r in records(out)}
    assert set(lines) == {"mirror", "mv"}
    assert math.isfinite(lines["mirror"]["results"]["mirrored_face"])
    assert lines["mv"]["results"]["mv_coverage"] is not None
    for record in lines.values():
        assert record["checkpoint"] == str(checkpoint) and record["num_samples"] == 2 and record["seed"] == 0
        assert record["time"] and record["duration_s"] >= 0


def test_a_named_metric_that_cannot_run_fails_after_the_others_are_written(tmp_path, checkpoint, empty_cache):
    out = tmp_path / "metrics.jsonl"
    result = run("-c", checkpoint, "--seeds", "0", "--metrics", "fid,mirror", "--out", out)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: could not compute fid (reasons above)"
    assert [r["metric"] for r in records(out)] == ["mirror"]


def test_unknown_metric_is_a_one_line_error(checkpoint):
    result = run("-c", checkpoint, "--metrics", "fid,lpips")
    assert result.exit_code == 2 and "unknown metric 'lpips'" in result.output


def test_inception_score_runs_with_a_given_weights_file(tmp_path, checkpoint, empty_cache, monkeypatch):
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"stands in for the Inception weights")
    opened = []
    monkeypatch.setattr(
        "panohead.metrics.inception.load_inception", lambda path, device: opened.append(path) or RandomFeatures()
    )
    out = tmp_path / "metrics.jsonl"
    result = run("-c", checkpoint, "--metrics", "is", "--inception", weights, "--num-samples", 2, "--out", out)
    assert result.exit_code == 0, result.output
    assert opened == [weights]
    (record,) = records(out)
    assert record["metric"] == "is" and record["num_samples"] == 2 and record["inception"] == str(weights)
    assert {"is_all", "is_front", "is_back"} <= set(record["results"])
    assert all(record["results"][k] >= 1.0 - 1e-6 for k in ("is_all", "is_front", "is_back"))


def write_dataset(folder, count=12, size=32):
    """A small dataset on disk: smooth random images, disc masks, cameras spread round the head."""
    yaws = torch.linspace(-180.0, 180.0, count + 1)[:-1]
    images = torch.stack([smooth_pattern(i, 3, size, 4).tanh() for i in range(count)])
    disc = ((torch.arange(size) - size / 2 + 0.5)[:, None] ** 2 + (torch.arange(size) - size / 2 + 0.5) ** 2) < (
        size / 3
    ) ** 2
    with DatasetWriter(folder) as writer:
        writer.add_batch(
            [f"img{i:02d}.png" for i in range(count)],
            to_uint8(images),
            (disc.expand(count, -1, -1) * 255).to(torch.uint8).numpy(),
            orbit_camera(yaws).tolist(),
        )
    return folder


def test_dataset_metrics_read_the_dataset_with_its_masks(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setattr("panohead.metrics.inception.load_inception", lambda path, device: RandomFeatures())
    data = write_dataset(tmp_path / "heads")
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"stands in for the Inception weights")
    out = tmp_path / "metrics.jsonl"
    result = run(
        "-c",
        checkpoint,
        "--data",
        data,
        "--metrics",
        "mask,fid,kid",
        "--inception",
        weights,
        "--num-samples",
        4,
        "--mask-samples",
        5,
        "--workers",
        0,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    mask, distribution = records(out)
    assert mask["metric"] == "mask" and mask["num_samples"] == 5 and mask["dataset"] == str(data)
    assert 0.0 <= mask["results"]["mask_mse"] <= 1.0
    assert distribution["metric"] == "fid+kid"
    assert distribution["results"]["real_all"] == 12
    assert distribution["results"]["real_front"] + distribution["results"]["real_back"] == 12
    for split in ("all", "front", "back"):
        assert distribution["results"][f"fid_{split}"] >= 0.0 and f"is_{split}" not in distribution["results"]


def test_fid_inception_state_dict_loads_from_half_precision(tmp_path):
    torch.manual_seed(0)
    reference = InceptionV3().eval()
    weights = tmp_path / FID_WEIGHTS_FILE
    torch.save(
        {
            k: v.half() if v.is_floating_point() else v
            for k, v in reference.state_dict().items()
            if not k.endswith("num_batches_tracked")
        },
        weights,
    )
    features, logits = load_inception(weights)(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    assert features.shape == (1, 2048) and logits.shape == (1, 1008)


def test_a_file_that_is_not_the_fid_inception_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048)}, path)
    with pytest.raises(ValueError, match=f"other.pth: not the FID Inception-v3 state dict {FID_WEIGHTS_FILE}"):
        load_inception(path)


def test_without_out_results_go_to_the_user_output_folder(tmp_path, checkpoint, monkeypatch):
    """The README's 'panohead metrics --metrics mirror,mv' run from the source tree wrote metrics.jsonl there."""
    from panohead.userdirs import output_root

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    result = run("-c", checkpoint, "--seeds", "0", "--metrics", "mirror")
    assert result.exit_code == 0, result.output
    assert list(workdir.iterdir()) == []
    out = output_root() / "out" / "metrics.jsonl"
    assert [r["metric"] for r in records(out)] == ["mirror"]
    assert f"appended results to {out}" in result.output
