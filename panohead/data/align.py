"""Two-stage alignment of real photos into the dataset format (PanoHead, Sec. 3.4 / supplement).

Stage 1, for images with a detectable face, reproduces the official crops and labels (the released
model was trained on them; :mod:`panohead.data.face_pose`): 68 landmarks -> FFHQ quad orientation
-> a mean 3D face fitted under a scaled orthographic camera -> crop centred on the projected head
centre and sized by the fitted scale, camera label from the fitted rotation at radius 2.7 looking at
the origin (focal 4.2647). Outside-photo areas are filled with blurred mirrored padding, as the
official crops are.

Stage 2, for side and back views without usable landmarks: a head box from the person mask (the top
of the silhouette down to the neck) and a yaw from a small net fitted on synthetic renders
(:mod:`panohead.data.head_yaw`; unsure ones are flagged in the report), with the crop's scale and
offset relative to the head box calibrated on the run's stage-1 images (median of their
crop-vs-head-box ratios), so both stages crop the same way. Defaults, used when a run has no
stage-1 image, were measured the same way on frontal synthetic heads (`CropCalibration.default`).

Masks come from the person segmenter (see :mod:`panohead.data.estimators`): once on the photo for the
head box, once more on the finished crop for the dataset mask (hair included, as in the official masks).
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
from scipy.spatial.transform import Rotation

from panohead.camera import label_from_rotation, label_to_orbit
from panohead.data.contact_sheet import ContactSheet
from panohead.data.estimators import (
    Box,
    DlibLandmarks,
    Face,
    LandmarkDetector,
    RoughPoseEstimator,
    Segmenter,
    SelfieSegmenter,
    head_box_from_mask,
    opencv_with,
)
from panohead.data.face_pose import official_framing
from panohead.data.head_yaw import LearnedHeadPose
from panohead.errors import MissingCapability, UserError, one_line
from panohead.images import ImageTooLarge, open_image
from panohead.numbers import number_problem
from panohead.untrusted import UntrustedDataError, parse_json, read_file_capped
from panohead.views.camera import orbit_camera

# The official dataset labels look at the world origin (the camera sits on the fitted head's axis).
LABEL_LOOK_AT = (0.0, 0.0, 0.0)
# The official pipeline skips faces turned or tilted further than this (yaw, pitch, roll in degrees).
POSE_LIMITS = (90.0, 80.0, 50.0)
MIN_FACE_SIDE = 32  # crop quads smaller than this many photo pixels hold too little face to align
# Stage-2 yaws with less confidence (probability of being within 15 degrees) than this are flagged in
# the report: chosen on held-out seed 31 (8 heads per 30-degree bucket), checked on seed 21; see
# docs/alignment.md.
UNSURE_CONFIDENCE = 0.55
MIN_PHOTO_SIDE = 64  # photos smaller than this (short side, pixels) are refused: nothing to align or invert


class AlignmentError(UserError):
    """An image that cannot be aligned; one line naming what is missing."""


@dataclass(frozen=True)
class CropCalibration:
    """Stage-2 crop relative to a head box of width ``w``: side ``scale * w``, centre at
    (box centre x + ``offset_x * w``, box top + ``offset_y * w``)."""

    scale: float = 1.75
    offset_x: float = 0.0
    offset_y: float = 0.70

    @staticmethod
    def default() -> CropCalibration:
        """Medians over 40 frontal synthetic heads at 128 px (crop = the whole render; see tests)."""
        return CropCalibration()

    @staticmethod
    def measure(box: Box, affine: np.ndarray, resolution: int) -> CropCalibration:
        """The calibration a stage-1 crop implies: ``affine`` (2, 3) maps crop pixels to photo pixels."""
        side = float(np.hypot(*affine[:, 0])) * resolution
        centre = affine[:, :2] @ np.array([resolution / 2 - 0.5, resolution / 2 - 0.5]) + affine[:, 2] + 0.5
        return CropCalibration(
            side / box.width, (centre[0] - box.centre[0]) / box.width, (centre[1] - box.top) / box.width
        )

    @staticmethod
    def median(samples: list[CropCalibration]) -> CropCalibration:
        return CropCalibration(
            *(float(np.median([getattr(s, k) for s in samples])) for k in ("scale", "offset_x", "offset_y"))
        )

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
    face: Face | None = field(default=None, repr=False)  # stage 1: the face it was framed on
    photo_mask: np.ndarray | None = field(default=None, repr=False)  # (H, W) person probability of the photo
    unsure: bool = False  # stage 2: the yaw is likely more than 15 degrees off (check it)

    def report_line(self) -> str:
        """Camera and crop size first (the same fields for every stage), then how they were found."""
        side = float(np.hypot(*self.affine[:, 0])) * self.crop.width if self.affine is not None else float("nan")
        return f"yaw {self.yaw:+.1f}, pitch {self.pitch:+.1f}, crop {side:.0f} px of the photo; {self.message}"


def warp(image: np.ndarray, affine: np.ndarray, resolution: int, border_value: float | None = None) -> np.ndarray:
    """Sample ``image`` at ``affine`` @ (crop pixel) for a resolution x resolution crop.

    Photos (``border_value`` None): where the crop leaves the photo it is filled as the official crops
    are, with the mirrored photo faded into a strong blur of itself (no edge streaks). Masks: a constant.
    A strong downscale is low-passed first so the crop does not alias.
    """
    cv2 = opencv_with()
    step = float(np.hypot(*affine[:, 0]))
    if step > 1.5:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=0.45 * step)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if border_value is not None:
        return cv2.warpAffine(
            image,
            affine,
            (resolution, resolution),
            flags=flags,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border_value,
        )
    crop = cv2.warpAffine(image, affine, (resolution, resolution), flags=flags, borderMode=cv2.BORDER_REFLECT)
    inside = cv2.warpAffine(
        np.ones(image.shape[:2], np.float32),
        affine,
        (resolution, resolution),
        flags=flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    if inside.min() >= 1.0:
        return crop
    fade = cv2.blur(inside, (2 * int(0.02 * resolution) + 1,) * 2)[..., None]
    blurred = cv2.blur(crop, (2 * int(0.03 * resolution) + 1,) * 2).astype(np.float32)
    return np.clip(crop * fade + blurred * (1.0 - fade) + 0.5, 0, 255).astype(np.uint8)


class Aligner:
    """The two-stage pipeline with pluggable estimators (see :mod:`panohead.data.estimators`)."""

    def __init__(
        self,
        resolution: int = 512,
        landmarks: LandmarkDetector | None = None,
        rough_pose: RoughPoseEstimator | None = None,
        segmenter: Segmenter | None = None,
        calibration: CropCalibration | None = None,
    ):
        self.resolution = resolution
        self.landmarks = landmarks or DlibLandmarks()
        self.rough_pose = rough_pose or LearnedHeadPose()
        self.segmenter = segmenter or SelfieSegmenter()
        self.calibration = calibration or CropCalibration.default()

    def stage1(self, face: Face, override: tuple[float, float] | None = None) -> tuple[torch.Tensor, np.ndarray, str]:
        """Camera label (25,), crop affine and a note from a face's landmarks, framed as the official crops.

        ``override`` (yaw, pitch) replaces the fitted camera (the crop stays the fitted one).
        """
        framing = official_framing(face.landmarks)
        if framing.side < MIN_FACE_SIDE:
            raise AlignmentError(f"the face is {framing.side:.0f} px across; at least {MIN_FACE_SIDE} px are needed")
        angles = Rotation.from_matrix(framing.pose.rotation).as_euler(
            "YXZ", degrees=True
        )  # yaw, pitch, roll of the head
        for name, value, limit in zip(("yaw", "pitch", "roll"), angles, POSE_LIMITS, strict=True):
            if abs(value) > limit:
                raise AlignmentError(
                    f"head {name} {value:+.0f} degrees is beyond the {limit:.0f} the official pipeline accepts"
                )
        if override is not None:
            return _label_at(*override), framing.affine(self.resolution), "yaw/pitch set by hand"
        label = label_from_rotation(torch.as_tensor(framing.pose.rotation, dtype=torch.float32)[None])[0]
        return label, framing.affine(self.resolution), f"mean-face fit, {framing.pose.rms:.1f} px rms"

    def align(
        self,
        image: np.ndarray,
        override: tuple[float, float] | None = None,
        calibration: CropCalibration | None = None,
        require_face: bool = False,
        faces: list[Face] | None = None,
        face_index: int | None = None,
    ) -> AlignedPortrait:
        """Align one RGB uint8 (H, W, 3) image; stage 1 when a face is found, else stage 2.

        ``faces``: the landmark detector's result when the caller already ran it. ``face_index``
        (0-based, best first) picks one of several faces; the message lists them all.
        """
        check_photo_size(image.shape[1], image.shape[0])
        unsure = False
        faces = self.landmarks(image) if faces is None else faces
        if face_index is not None and not 0 <= face_index < len(faces):
            raise AlignmentError(f"face {face_index + 1} was asked for but {len(faces)} face(s) were found")
        face = faces[face_index or 0] if faces else None
        if face is None and require_face:
            raise AlignmentError("no face found in the image (stage-1 alignment needs a visible face)")
        mask = self.segmenter(image, face.box if face else None)
        head = head_box_from_mask(mask)
        if face is not None:
            label, affine, note = self.stage1(face, override)
            yaw, pitch = orbit_angles(label)
            stage = 1
            message = (
                f"stage 1: face (score {face.score:.2f}), 68 landmarks -> yaw {yaw:+.1f}, pitch {pitch:+.1f} ({note})"
            )
            if len(faces) > 1:
                listed = ", ".join(
                    f"{i + 1} at ({f.box.centre[0]:.0f}, {f.box.centre[1]:.0f})" for i, f in enumerate(faces)
                )
                message += (
                    f"; {len(faces)} faces: {listed}; using face {(face_index or 0) + 1} (--face N picks another)"
                )
        else:
            if override is not None:
                if head is None:
                    raise AlignmentError("no face and no person found in the image (the person mask is empty)")
                (yaw, pitch), note = override, "yaw/pitch set by hand"
            else:
                check_head_shape(mask, head)
                pose = self.rough_pose(image, head)
                yaw, pitch, note = pose.yaw, pose.pitch, pose.note
                if abs(yaw) < 45.0:
                    raise AlignmentError(
                        f"{note}: the face is too small or unclear for landmarks and stage 2 frames only "
                        "sides and backs; use a larger photo, or give its yaw/pitch in --overrides"
                    )
                unsure = pose.confidence < UNSURE_CONFIDENCE
                if unsure:
                    note += "; YAW UNSURE: check it, or give the yaw/pitch in --overrides (invert: --yaw)"
            affine = (calibration or self.calibration).affine(head, self.resolution)
            label = _label_at(yaw, pitch)
            stage = 2
            message = f"stage 2: head box {head.width:.0f}x{head.height:.0f} px from the mask; {note}"
        crop = warp(image, affine, self.resolution)
        crop_mask = self.segmenter(crop, None)  # segmented again at the crop's framing, the one the model sees best
        crop_mask = np.clip(crop_mask * 255 + 0.5, 0, 255).astype(np.uint8)
        return AlignedPortrait(
            Image.fromarray(crop),
            label,
            stage,
            message,
            Image.fromarray(crop_mask),
            yaw,
            pitch,
            head,
            affine,
            face,
            mask,
            unsure,
        )


def _label_at(yaw: float, pitch: float) -> torch.Tensor:
    """(25,) label of a camera without roll at the official radius, looking at the origin (degrees)."""
    return orbit_camera(yaw, pitch, look_at=LABEL_LOOK_AT)[0]


def orbit_angles(label: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the orbit camera of a (25,) label."""
    orbit = label_to_orbit(torch.as_tensor(label, dtype=torch.float32)[None])
    return math.degrees(float(orbit.yaw[0])), math.degrees(float(orbit.pitch[0]))


# A head seen from any side: its box (top of the silhouette to the neck) is this tall per unit width,
# the silhouette fills this much of the box (an ellipse fills 0.79), and it is at least this wide.
HEAD_ASPECT = (0.8, 1.8)
HEAD_FILL = (0.6, 0.95)
MIN_HEAD_SIDE = 32


def check_head_shape(mask: np.ndarray, head: Box | None) -> None:
    """One-line error unless the person mask (H, W) looks like a head on a neck or shoulders.

    Stage 2 crops whatever the mask's top blob is; this keeps it to heads: a plausible size, an
    upright head-like box, a filled silhouette, and something (a neck, shoulders) below it, or the
    photo's bottom edge. A drawn sun or a ball has no neck; a speck of a person is too small to crop.
    """
    if head is None:
        raise AlignmentError("no face and no person found in the image (the person mask is empty)")
    if head.width < MIN_HEAD_SIDE or head.width < 0.08 * min(mask.shape):
        raise AlignmentError(
            f"the person found is {head.width:.0f} px wide; a head must be at least {MIN_HEAD_SIDE} px "
            f"and 8% of the photo's short side ({0.08 * min(mask.shape):.0f} px)"
        )
    aspect = head.height / head.width
    box = mask[int(head.top) : int(head.bottom), max(0, int(head.left)) : int(np.ceil(head.right))] > 0.5
    fill = float(box.mean()) if box.size else 0.0
    if not (HEAD_ASPECT[0] <= aspect <= HEAD_ASPECT[1] and HEAD_FILL[0] <= fill <= HEAD_FILL[1]):
        raise AlignmentError(
            f"the person mask's top does not look like a head (box {head.width:.0f}x{head.height:.0f} px, "
            f"height/width {aspect:.2f}, filled {fill:.0%}); give its yaw/pitch in --overrides to crop it anyway"
        )
    below = int(head.bottom + 0.15 * head.width)
    if below < mask.shape[0]:
        neck = mask[below, max(0, int(head.left)) : int(np.ceil(head.right))] > 0.5
        if neck.sum() < 0.2 * head.width:
            raise AlignmentError(
                f"nothing below the {head.width:.0f} px wide blob looks like a neck or shoulders; "
                "not a head (give its yaw/pitch in --overrides to crop it anyway)"
            )


def check_photo_size(width: int, height: int, minimum: int = MIN_PHOTO_SIDE) -> None:
    """One-line error for photos too small to hold a head."""
    if min(width, height) < minimum:
        raise AlignmentError(f"the image is {width}x{height} pixels; at least {minimum} on the short side are needed")


def align_portrait(
    image: Image.Image, resolution: int = 512, aligner: Aligner | None = None, face_index: int | None = None
) -> AlignedPortrait:
    """Stage-1 alignment of one portrait (for inversion): crop + camera label; one-line error without a face."""
    aligner = aligner or Aligner(resolution)
    return aligner.align(
        np.asarray(ImageOps.exif_transpose(image).convert("RGB")), require_face=True, face_index=face_index
    )


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
OVERRIDES_LIMIT = 16 * 2**20  # bytes; an override is about 40
OVERRIDE_BOUNDS = ((-360.0, 360.0), (-90.0, 90.0))  # yaw, pitch in degrees


def read_overrides(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """Manual angles: JSON {"file name": [yaw, pitch], ...} in degrees."""
    path = Path(path)
    try:
        document = parse_json(read_file_capped(path, OVERRIDES_LIMIT, "the overrides file"))
    except (OSError, UntrustedDataError) as error:
        raise ValueError(f"{path}: cannot read overrides ({one_line(error)})") from None
    if not isinstance(document, dict):
        raise ValueError(f'{path}: overrides must be a JSON object {{"name.jpg": [yaw, pitch], ...}}')
    overrides = {}
    for name, value in document.items():
        if not (
            isinstance(value, list)
            and len(value) == 2
            and not any(number_problem(v, bounds) for v, bounds in zip(value, OVERRIDE_BOUNDS, strict=True))
        ):
            raise ValueError(
                f"{path}: override of {name!r} must be [yaw, pitch] in degrees "
                f"(yaw -360..360, pitch -90..90), got {json.dumps(value)[:40]}"
            )
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


def align_folder(
    inputs: str | os.PathLike,
    out: str | os.PathLike,
    resolution: int = 512,
    overrides: dict[str, tuple[float, float]] | None = None,
    overwrite: bool = False,
    aligner: Aligner | None = None,
    progress=None,
    sheet: ContactSheet | None = None,
) -> AlignmentReport:
    """Align every image in ``inputs`` (a folder) and write the dataset (images, masks, labels) to ``out``.

    Pass 1 runs stage 1 on every image with a face and collects the crop calibration; pass 2 crops
    the remaining images with stage 2 using that calibration (median over stage-1 images, or the
    synthetic-head default when there are none). Images that cannot be aligned are reported, not
    written; so are images an absent optional capability (e.g. OpenCV without its Haar cascades) stops.
    When none can be, nothing is written at all (``report.aligned`` is 0) and the caller errs.
    Masks are re-computed in pass 2 rather than kept in memory. ``sheet`` collects a tile per image.
    """
    from panohead.data.writer import DatasetWriter

    folder = Path(inputs)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of photos")
    names = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
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
    report.lines.append(
        f"stage-2 crop calibration from {source}: side {calibration.scale:.2f} x head width, "
        f"centre offset ({calibration.offset_x:+.2f}, {calibration.offset_y:+.2f}) head widths"
    )
    if sheet is not None:
        _add_tiles(sheet, folder, names, results)
    if not any(isinstance(result, AlignedPortrait) for result in results.values()):
        report.skipped = len(names)
        report.lines += [f"{name}: SKIPPED: {results.get(name) or 'not processed'}" for name in names]
        return report  # nothing to write: the caller reports an error
    metadata = {"alignment": {"resolution": resolution, "calibration": asdict(calibration)}}
    stems = [Path(name).with_suffix(".png").as_posix() for name in names]
    outputs = {name: stem if stems.count(stem) == 1 else f"{name}.png" for name, stem in zip(names, stems, strict=True)}
    with DatasetWriter(out, overwrite=overwrite, metadata=metadata) as writer:
        for name in names:
            result = results.get(name)
            if isinstance(result, AlignedPortrait):
                writer.add_batch(
                    [outputs[name]],
                    np.asarray(result.crop)[None],
                    np.asarray(result.mask)[None],
                    [result.label.tolist()],
                )
                report.aligned += 1
                report.stage_counts[result.stage] += 1
                report.lines.append(f"{name}: {result.report_line()}")
            else:
                report.skipped += 1
                report.lines.append(f"{name}: SKIPPED: {result or 'not processed'}")
    return report


def _add_tiles(sheet: ContactSheet, folder: Path, names: list[str], results: dict[str, AlignedPortrait | str]) -> None:
    """One contact-sheet tile per image, in the report's order; skipped photos are re-read for a thumbnail."""
    for name in names:
        result = results.get(name)
        if isinstance(result, AlignedPortrait):
            sheet.add_aligned(name, result.crop, result.mask, result.stage, result.yaw, result.pitch, result.unsure)
            continue
        try:
            photo = load_photo(folder / name)
        except AlignmentError:
            photo = None
        sheet.add_skipped(name, photo, result or "not processed")
