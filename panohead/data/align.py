"""Two-stage alignment of real photos into the dataset format (PanoHead, Sec. 3.4 / supplement).

Stage 1, for images with a detectable face: 68 landmarks -> head pose by PnP against a 3D face
template placed like the synthetic heads in the generator's world frame -> orbit camera label (yaw,
pitch; radius 2.7, look-at (0, 0, 0.2), focal 4.2647). The crop is the similarity transform (scale,
roll, shift) that puts the detected landmarks where that orbit camera projects the template, so the
face lands exactly where the generator renders faces for that camera: consistent scale, head centred
as in the orbit renders.

Stage 2, for side and back views without usable landmarks: a head box from the person mask (the top
of the silhouette down to the neck) and a rough yaw (profile cascade, else a back view), with the
crop's scale and offset relative to the head box calibrated on the run's stage-1 images (median of
their crop-vs-head-box ratios), so both stages crop the same way. Defaults, used when a run has no
stage-1 image, were measured the same way on frontal synthetic heads (`CropCalibration.default`).

Masks come from the segmenter (see :mod:`panohead.data.estimators`), warped with the same crop.
Yaw/pitch can be overridden by hand per image; every image gets a report line, none is dropped silently.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from panohead.camera import DEFAULT_FOCAL, DEFAULT_LOOK_AT, DEFAULT_RADIUS, orbit_label
from panohead.data.estimators import (Box, CascadeProfilePose, DlibLandmarks, Face, GrabCutSegmenter, LandmarkDetector,
                                      RoughPoseEstimator, Segmenter, head_box_from_mask, opencv_with, orbit_from_pnp)
from panohead.errors import MissingCapability, OneLineError, one_line
from panohead.images import ImageTooLarge, open_image
from panohead.numbers import number_problem
from panohead.untrusted import UntrustedDataError, parse_json, read_file_capped

# dlib/iBUG 68-point indices and where those points sit on the synthetic heads, in world units
# (y up, face towards +z; image-left eye corner 36 is the subject's right eye, at world -x).
TEMPLATE_INDICES = (36, 39, 42, 45, 30, 33, 48, 54, 8)
TEMPLATE_POINTS = np.array([
    [-0.070, 0.040, 0.295], [-0.027, 0.040, 0.305], [0.027, 0.040, 0.305], [0.070, 0.040, 0.295],
    [0.000, -0.030, 0.366], [0.000, -0.050, 0.340], [-0.040, -0.088, 0.310], [0.040, -0.088, 0.310],
    [0.000, -0.175, 0.280],
])


class AlignmentError(OneLineError):
    """An image that cannot be aligned; one line naming what is missing."""


@dataclass(frozen=True)
class CropCalibration:
    """Stage-2 crop relative to a head box of width ``w``: side ``scale * w``, centre at
    (box centre x + ``offset_x * w``, box top + ``offset_y * w``)."""

    scale: float = 1.75
    offset_x: float = 0.0
    offset_y: float = 0.70

    @staticmethod
    def default() -> "CropCalibration":
        """Medians over 40 frontal synthetic heads at 128 px (crop = the whole render; see tests)."""
        return CropCalibration()

    @staticmethod
    def measure(box: Box, affine: np.ndarray, resolution: int) -> "CropCalibration":
        """The calibration a stage-1 crop implies: ``affine`` (2, 3) maps crop pixels to photo pixels."""
        side = float(np.hypot(*affine[:, 0])) * resolution
        centre = affine[:, :2] @ np.array([resolution / 2 - 0.5, resolution / 2 - 0.5]) + affine[:, 2] + 0.5
        return CropCalibration(side / box.width, (centre[0] - box.centre[0]) / box.width, (centre[1] - box.top) / box.width)

    @staticmethod
    def median(samples: list["CropCalibration"]) -> "CropCalibration":
        return CropCalibration(*(float(np.median([getattr(s, k) for s in samples])) for k in ("scale", "offset_x", "offset_y")))

    def affine(self, box: Box, resolution: int) -> np.ndarray:
        """(2, 3) crop-pixel -> photo-pixel map of the stage-2 crop around ``box``."""
        side = self.scale * box.width
        cx, cy = box.centre[0] + self.offset_x * box.width, box.top + self.offset_y * box.width
        step = side / resolution
        return np.array([[step, 0.0, cx - side / 2 + 0.5 * step - 0.5], [0.0, step, cy - side / 2 + 0.5 * step - 0.5]])


@dataclass
class AlignedPortrait:
    """An aligned crop, its camera label (25,), the stage that produced it and a one-line report."""

    crop: Image.Image
    label: torch.Tensor
    stage: int
    message: str
    mask: Image.Image | None = None
    yaw: float = 0.0
    pitch: float = 0.0
    head_box: Box | None = None
    affine: np.ndarray | None = field(default=None, repr=False)


def project_template(yaw: float, pitch: float) -> np.ndarray:
    """(9, 2) normalised image coordinates in [0, 1] of the template seen by the orbit camera (degrees)."""
    label = orbit_label(math.radians(yaw), math.radians(pitch), DEFAULT_RADIUS, DEFAULT_LOOK_AT, DEFAULT_FOCAL)[0].double().numpy()
    cam2world = label[:16].reshape(4, 4)
    world2cam = np.linalg.inv(cam2world)
    points = TEMPLATE_POINTS @ world2cam[:3, :3].T + world2cam[:3, 3]
    return DEFAULT_FOCAL * points[:, :2] / points[:, 2:3] + 0.5


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) similarity (uniform scale, rotation, shift) mapping ``source`` (N, 2) onto ``target`` (N, 2), least squares."""
    src_mean, dst_mean = source.mean(0), target.mean(0)
    src, dst = source - src_mean, target - dst_mean
    a = (src * dst).sum()
    b = (src[:, 0] * dst[:, 1] - src[:, 1] * dst[:, 0]).sum()
    norm = (src ** 2).sum()
    linear = np.array([[a, -b], [b, a]]) / norm
    return np.concatenate([linear, (dst_mean - linear @ src_mean)[:, None]], axis=1)


def warp(image: np.ndarray, affine: np.ndarray, resolution: int, border_value: float | None = None) -> np.ndarray:
    """Sample ``image`` at ``affine`` @ (crop pixel) for a resolution x resolution crop.

    Edges are replicated (photos) or constant (masks); a strong downscale is low-passed first so
    the crop does not alias.
    """
    cv2 = opencv_with()
    step = float(np.hypot(*affine[:, 0]))
    if step > 1.5:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=0.45 * step)
    border = cv2.BORDER_REPLICATE if border_value is None else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, affine, (resolution, resolution), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=border_value or 0)


class Aligner:
    """The two-stage pipeline with pluggable estimators (see :mod:`panohead.data.estimators`)."""

    def __init__(self, resolution: int = 512, landmarks: LandmarkDetector | None = None,
                 rough_pose: RoughPoseEstimator | None = None, segmenter: Segmenter | None = None,
                 calibration: CropCalibration | None = None):
        self.resolution = resolution
        self.landmarks = landmarks or DlibLandmarks()
        self.rough_pose = rough_pose or CascadeProfilePose()
        self.segmenter = segmenter or GrabCutSegmenter()
        self.calibration = calibration or CropCalibration.default()

    def stage1(self, image: np.ndarray, face: Face, override: tuple[float, float] | None = None) -> tuple[float, float, np.ndarray]:
        """(yaw, pitch, crop affine) from a face's landmarks; ``override`` replaces the estimated angles."""
        cv2 = opencv_with("solvePnP", purpose="head pose from landmarks")
        points = face.landmarks[list(TEMPLATE_INDICES)]
        height, width = image.shape[:2]
        focal = 1.2 * max(height, width)
        camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
        flip = np.diag([1.0, -1.0, -1.0])  # template y up / +z towards the viewer -> OpenCV's y down, +z away
        # Start from a frontal head at the depth its eye-corner distance implies.
        eye_span = max(float(np.linalg.norm(points[3] - points[0])), 1.0)
        depth = focal * (TEMPLATE_POINTS[3, 0] - TEMPLATE_POINTS[0, 0]) / eye_span + TEMPLATE_POINTS[:, 2].mean()
        ok, rvec, tvec = cv2.solvePnP(TEMPLATE_POINTS, points, camera, None, rvec=cv2.Rodrigues(flip)[0].copy(),
                                      tvec=np.array([[0.0], [0.0], [depth]]), useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            raise AlignmentError("head pose estimation (PnP) failed for the detected face")
        yaw, pitch = orbit_from_pnp(cv2.Rodrigues(rvec)[0], tvec, DEFAULT_LOOK_AT)
        if override is not None:
            yaw, pitch = override
        projected = project_template(yaw, pitch) * self.resolution - 0.5
        return yaw, pitch, fit_similarity(projected, points)

    def align(self, image: np.ndarray, override: tuple[float, float] | None = None,
              calibration: CropCalibration | None = None, require_face: bool = False,
              faces: list[Face] | None = None) -> AlignedPortrait:
        """Align one RGB uint8 (H, W, 3) image; stage 1 when a face is found, else stage 2.

        ``faces``: the landmark detector's result when the caller already ran it.
        """
        faces = self.landmarks(image) if faces is None else faces
        face = faces[0] if faces else None
        if face is None and require_face:
            raise AlignmentError("no face found in the image (stage-1 alignment needs a visible face)")
        mask = self.segmenter(image, face.box if face else None)
        head = head_box_from_mask(mask)
        manual = " (yaw/pitch set by hand)" if override is not None else ""
        if face is not None:
            yaw, pitch, affine = self.stage1(image, face, override)
            stage = 1
            message = f"stage 1: face (score {face.score:.2f}), 68 landmarks -> yaw {yaw:+.1f}, pitch {pitch:+.1f}{manual}"
        else:
            if head is None:
                raise AlignmentError("no face and no person found in the image (segmentation is empty)")
            if override is not None:
                (yaw, pitch), note = override, "yaw/pitch set by hand"
            else:
                yaw, pitch, note = self.rough_pose(image, head)
            affine = (calibration or self.calibration).affine(head, self.resolution)
            stage = 2
            message = f"stage 2: head box {head.width:.0f}x{head.height:.0f} px from the mask; {note}"
        crop = warp(image, affine, self.resolution)
        crop_mask = warp((mask * 255).astype(np.uint8), affine, self.resolution, border_value=0.0)
        label = orbit_label(math.radians(yaw), math.radians(pitch), DEFAULT_RADIUS, DEFAULT_LOOK_AT, DEFAULT_FOCAL)[0]
        return AlignedPortrait(Image.fromarray(crop), label, stage, message, Image.fromarray(crop_mask), yaw, pitch, head, affine)


def align_portrait(image: Image.Image, resolution: int = 512, aligner: Aligner | None = None) -> AlignedPortrait:
    """Stage-1 alignment of one portrait (for inversion): crop + camera label; one-line error without a face."""
    aligner = aligner or Aligner(resolution)
    return aligner.align(np.asarray(ImageOps.exif_transpose(image).convert("RGB")), require_face=True)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
OVERRIDES_LIMIT = 16 * 2 ** 20  # bytes; an override is about 40
OVERRIDE_BOUNDS = ((-360.0, 360.0), (-90.0, 90.0))  # yaw, pitch in degrees


def read_overrides(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """Manual angles: JSON {"file name": [yaw, pitch], ...} in degrees."""
    path = Path(path)
    try:
        document = parse_json(read_file_capped(path, OVERRIDES_LIMIT, "the overrides file"))
    except (OSError, UntrustedDataError) as error:
        raise ValueError(f"{path}: cannot read overrides ({one_line(error)})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: overrides must be a JSON object {{\"name.jpg\": [yaw, pitch], ...}}")
    overrides = {}
    for name, value in document.items():
        if not (isinstance(value, list) and len(value) == 2
                and not any(number_problem(v, bounds) for v, bounds in zip(value, OVERRIDE_BOUNDS))):
            raise ValueError(f"{path}: override of {name!r} must be [yaw, pitch] in degrees "
                             f"(yaw -360..360, pitch -90..90), got {json.dumps(value)[:40]}")
        overrides[name] = (float(value[0]), float(value[1]))
    return overrides


def load_photo(path: Path) -> np.ndarray:
    try:
        with open_image(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except ImageTooLarge as error:
        raise AlignmentError(str(error)) from None
    except (OSError, ValueError) as error:
        raise AlignmentError(f"unreadable image ({type(error).__name__})") from None


@dataclass
class AlignmentReport:
    """One line per input image: what was done, or why it was skipped."""

    lines: list[str] = field(default_factory=list)
    aligned: int = 0
    skipped: int = 0
    stage_counts: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0})


def align_folder(inputs: str | os.PathLike, out: str | os.PathLike, resolution: int = 512,
                 overrides: dict[str, tuple[float, float]] | None = None, overwrite: bool = False,
                 aligner: Aligner | None = None, progress=None) -> AlignmentReport:
    """Align every image in ``inputs`` (a folder) and write the dataset (images, masks, labels) to ``out``.

    Pass 1 runs stage 1 on every image with a face and collects the crop calibration; pass 2 crops
    the remaining images with stage 2 using that calibration (median over stage-1 images, or the
    synthetic-head default when there are none). Images that cannot be aligned are reported, not
    written; so are images an absent optional capability (e.g. OpenCV without its Haar cascades) stops.
    Masks are re-computed in pass 2 rather than kept in memory.
    """
    from panohead.data.writer import DatasetWriter

    folder = Path(inputs)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of photos")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not names:
        raise ValueError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"overrides name {unknown[0]!r}, which is not an image in {folder}")
    aligner = aligner or Aligner(resolution)
    report = AlignmentReport()
    results: dict[str, AlignedPortrait | str] = {}
    later: list[str] = []
    samples: list[CropCalibration] = []
    for name in names:
        try:
            image = load_photo(folder / name)
            faces = aligner.landmarks(image)
            if faces:
                result = aligner.align(image, overrides.get(name), faces=faces)
                results[name] = result
                if result.head_box is not None:
                    samples.append(CropCalibration.measure(result.head_box, result.affine, resolution))
            else:
                later.append(name)
        except (AlignmentError, MissingCapability) as error:
            results[name] = one_line(error)
        if progress:
            progress(0.5)
    calibration = CropCalibration.median(samples) if samples else aligner.calibration
    source = f"{len(samples)} stage-1 images" if samples else "synthetic-head default"
    for name in later:
        try:
            results[name] = aligner.align(load_photo(folder / name), overrides.get(name), calibration)
        except (AlignmentError, MissingCapability) as error:
            results[name] = one_line(error)
        if progress:
            progress(0.5)
    report.lines.append(f"stage-2 crop calibration from {source}: side {calibration.scale:.2f} x head width, "
                        f"centre offset ({calibration.offset_x:+.2f}, {calibration.offset_y:+.2f}) head widths")
    metadata = {"alignment": {"resolution": resolution, "calibration": asdict(calibration)}}
    stems = [Path(name).with_suffix(".png").as_posix() for name in names]
    outputs = {name: stem if stems.count(stem) == 1 else f"{name}.png" for name, stem in zip(names, stems)}
    with DatasetWriter(out, overwrite=overwrite, metadata=metadata) as writer:
        for name in names:
            result = results.get(name)
            if isinstance(result, AlignedPortrait):
                writer.add_batch([outputs[name]], np.asarray(result.crop)[None], np.asarray(result.mask)[None], [result.label.tolist()])
                report.aligned += 1
                report.stage_counts[result.stage] += 1
                report.lines.append(f"{name}: {result.message}")
            else:
                report.skipped += 1
                report.lines.append(f"{name}: SKIPPED: {result or 'not processed'}")
    return report
