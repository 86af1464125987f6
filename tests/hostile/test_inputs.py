"""Hostile datasets, photos, sessions, alignment overrides and command-line values.

Each case is built here (zips are streamed, so a 512 MiB member costs the test no memory) and run
through the ``panohead`` command that reads it, in one child process under a memory limit.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib

import pytest
from hostile_cli import assert_no_stray_files, assert_refused

from panohead.editing import EditState, Keyframe, Latent, ModelReference, PathSettings, Session, save_session


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))


def png_header(width: int, height: int) -> bytes:
    """A PNG announcing ``width`` x ``height`` RGB pixels with a few bytes of data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def zip_with_labels(path, labels_size: int | None = None, labels: bytes | None = None) -> None:
    """A dataset zip with one tiny image; dataset.json is ``labels`` or ``labels_size`` spaces (streamed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", png_header(8, 8))
        with archive.open("dataset.json", "w", force_zip64=True) as member:
            if labels is not None:
                member.write(labels)
            else:
                block = b" " * 2**20
                for _ in range(labels_size // len(block)):
                    member.write(block)


def folder_dataset(folder, labels: bytes, image: bytes) -> None:
    for sub in (folder, folder.with_name(folder.name + "_masks")):
        sub.mkdir()
        (sub / "a.png").write_bytes(image)
    (folder / "dataset.json").write_bytes(labels)


def session_file(path, **path_settings) -> dict:
    session = Session(
        model=ModelReference("random:tiny", "0" * 64),
        state=EditState(latent=Latent.from_seed(1)),
        keyframes=(Keyframe(EditState(latent=Latent.from_seed(1))), Keyframe(EditState(latent=Latent.from_seed(2)))),
        path=PathSettings(**path_settings),
    )
    save_session(path, session)
    return json.loads(path.read_text())


def test_hostile_datasets_photos_sessions_and_overrides_are_refused(cli, tmp_path):
    label = json.dumps({"labels": [["a.png", [0.0] * 25]]}).encode()
    zip_with_labels(tmp_path / "inflates_512mib.zip", labels_size=512 * 2**20)
    zip_with_labels(tmp_path / "deep_labels.zip", labels=b"[" * 100_000 + b"]" * 100_000)
    folder_dataset(tmp_path / "nan_labels", label.replace(b"0.0", b"NaN", 1), png_header(8, 8))
    folder_dataset(tmp_path / "bomb_image", label, png_header(100_000, 100_000))
    folder_dataset(tmp_path / "large_image", label, png_header(10_000, 10_000))
    (tmp_path / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (tmp_path / "large.png").write_bytes(png_header(10_000, 10_000))
    document = session_file(tmp_path / "template.json")
    sessions = {
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "huge_frames.json": {**document, "path": {**document["path"], "frames_per_segment": 10**12}},
        "yaw_inf.json": json.dumps(
            {**document, "state": {**document["state"], "camera": {**document["state"]["camera"], "yaw": 1.0}}}
        )
        .replace('"yaw": 1.0', '"yaw": 1e999')
        .encode(),
        "psi_nan.json": json.dumps({**document, "state": {**document["state"], "psi": 0.5}})
        .replace('"psi": 0.5', '"psi": NaN')
        .encode(),
    }
    for name, content in sessions.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    (tmp_path / "photos").mkdir()
    (tmp_path / "overrides_inf.json").write_text('{"a.jpg": [1e999, 0]}')
    (tmp_path / "overrides_deep.json").write_bytes(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    cases = {
        "inflates_512mib.zip": ["dataset", "check", tmp_path / "inflates_512mib.zip"],
        "deep_labels.zip": ["dataset", "check", tmp_path / "deep_labels.zip"],
        "nan_labels": ["dataset", "check", tmp_path / "nan_labels"],
        "bomb_image": ["dataset", "check", tmp_path / "bomb_image"],
        "large_image": ["dataset", "check", tmp_path / "large_image"],
        "bomb.png": ["invert", tmp_path / "bomb.png", "-o", tmp_path / "out"],
        "large.png": ["invert", tmp_path / "large.png", "-o", tmp_path / "out"],
        **{name: ["keyframes", tmp_path / name, "-o", tmp_path / "out.mp4"] for name in sessions},
        "overrides_inf.json": [
            "dataset",
            "align",
            tmp_path / "photos",
            "-o",
            tmp_path / "aligned",
            "--overrides",
            tmp_path / "overrides_inf.json",
        ],
        "overrides_deep.json": [
            "dataset",
            "align",
            tmp_path / "photos",
            "-o",
            tmp_path / "aligned",
            "--overrides",
            tmp_path / "overrides_deep.json",
        ],
    }
    results = cli(list(cases.values()))
    lines = {name: assert_refused(result, tmp_path / name) for name, result in zip(cases, results, strict=True)}
    assert "larger than" in lines["inflates_512mib.zip"]
    assert "deeper than" in lines["deep_labels.zip"] and "deeper than" in lines["deep.json"]
    assert "NaN" in lines["nan_labels"] and "NaN" in lines["psi_nan.json"]
    assert "decompression bomb" in lines["bomb_image"] and "decompression bomb" in lines["large_image"]
    assert "decompression bomb" in lines["bomb.png"] and "decompression bomb" in lines["large.png"]
    assert "frames per segment must be within" in lines["huge_frames.json"]
    assert "yaw must be a finite number" in lines["yaw_inf.json"]
    assert "must be [yaw, pitch]" in lines["overrides_inf.json"]
    assert "deeper than" in lines["overrides_deep.json"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "aligned").exists()
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    "argv, option",
    [
        (["generate", "--psi", "nan"], "--psi"),
        (["generate", "--pitch", "inf"], "--pitch"),
        (["generate", "--yaws", "0,nan"], "--yaws"),
        (["generate", "--seeds", "0-99999999999"], "--seeds"),
        (["generate", "--seeds", "99999999999999999999"], "--seeds"),
        (["video", "--radius", "inf"], "--radius"),
        (["mesh", "--threshold", "nan"], "--threshold"),
        (["splat", "--psi", "nan"], "--psi"),
        (["metrics", "--psi", "inf"], "--psi"),
        (["invert", "photo.png", "--yaw", "nan"], "--yaw"),
        (["invert", "photo.png", "--shift", "nan", "0"], "--shift"),
        (["train", "--data", "d", "--outdir", "o", "--kimg", "inf"], "--kimg"),
        (["dataset", "synth", "-o", "d", "--pitch-range", "-inf,20"], "--pitch-range"),
    ],
)
def test_values_that_are_not_finite_numbers_or_absurd_ranges_are_refused(argv, option, tmp_path):
    from hostile_runner import run

    result = run(
        argv
        + ["-o" if argv[0] in ("generate", "video", "mesh", "splat", "metrics") else "--out", str(tmp_path / "out")]
        if argv[0] in ("generate", "video", "mesh", "splat", "metrics", "invert")
        else argv
    )
    line = assert_refused(result, option)
    assert line.startswith("Error: ")
    assert_no_stray_files(tmp_path, set())
