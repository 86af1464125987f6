"""A photo's crop as the app shows it before an inversion: a square box on the photo, its mask, its camera.

Alignment (:func:`panohead.inversion.inputs.align_face`) proposes the crop; the Invert panel draws it
as a box on the photo that the user may move and resize. Everything follows the box: the crop is
sampled from the photo again (blurred padding where it leaves the photo, as aligned crops have), the
person mask of the photo is cut with the same box, and for a photo with a face the camera is fitted
again with the head centre and size that the box implies
(:func:`panohead.data.face_pose.fit_rotation`): a box moved off the head turns the camera, as it
would for the official pipeline's 3D fit. Without a usable face the box starts as the centred
square and the camera is set by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from panohead.camera import label_from_rotation
from panohead.config import GeneratorConfig
from panohead.data.align import check_photo_size, orbit_angles, warp
from panohead.data.estimators import SelfieSegmenter
from panohead.data.face_pose import fit_rotation, rotation_from_label
from panohead.errors import MissingCapability
from panohead.inversion.inputs import MIN_CROP_SIDE, Portrait, adjust_portrait, align_face, camera_label

YAW_RANGE = (-180.0, 180.0)  # degrees a hand-set camera may take
PITCH_RANGE = (-60.0, 60.0)


@dataclass(frozen=True)
class CropBox:
    """A square crop of a photo: its ``centre`` and its half-side vector ``half`` along the crop's x
    axis (image right unless the crop is rolled with the face), in photo pixel coordinates (pixel
    centres at integers, as the alignment's affine maps them)."""

    centre: tuple[float, float]
    half: tuple[float, float]

    @property
    def side(self) -> float:
        return 2.0 * math.hypot(*self.half)

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Half-side vectors along the crop's x (right) and y (down), (2,) each."""
        x = np.asarray(self.half, dtype=np.float64)
        return x, np.array([-x[1], x[0]])

    def corners(self) -> np.ndarray:
        """(4, 2): top-left, top-right, bottom-right, bottom-left in photo pixels."""
        x, y = self.axes()
        centre = np.asarray(self.centre, dtype=np.float64)
        return np.stack([centre - x - y, centre + x - y, centre + x + y, centre - x + y])

    def affine(self, resolution: int) -> np.ndarray:
        """(2, 3) crop pixel -> photo pixel map of this box sampled at ``resolution`` (for ``warp``)."""
        x, y = self.axes()
        linear = np.stack([x, y], axis=1) * (2.0 / resolution)
        middle = (resolution - 1) / 2.0
        return np.concatenate([linear, (np.asarray(self.centre) - linear @ [middle, middle])[:, None]], axis=1)

    @staticmethod
    def from_affine(affine: np.ndarray, resolution: int) -> CropBox:
        """The box a ``resolution``-pixel crop with the (2, 3) ``affine`` samples (inverse of :meth:`affine`)."""
        middle = (resolution - 1) / 2.0
        centre = affine[:, :2] @ [middle, middle] + affine[:, 2]
        half = affine[:, 0] * resolution / 2.0
        return CropBox((float(centre[0]), float(centre[1])), (float(half[0]), float(half[1])))

    def moved(self, dx: float, dy: float) -> CropBox:
        return CropBox((self.centre[0] + dx, self.centre[1] + dy), self.half)

    def resized(self, side: float) -> CropBox:
        """The same centre and roll, ``side`` pixels across (``ValueError`` unless positive)."""
        if not side > 0:
            raise ValueError(f"crop side {side:g}: must be a positive number of pixels")
        factor = side / self.side
        return CropBox(self.centre, (self.half[0] * factor, self.half[1] * factor))

    def contains(self, point: tuple[float, float]) -> bool:
        x, y = self.axes()
        offset = np.asarray(point, dtype=np.float64) - self.centre
        return bool(abs(offset @ x) <= x @ x and abs(offset @ y) <= y @ y)


@dataclass(frozen=True)
class PhotoCrop:
    """One photo as aligned, with what the crop, mask and camera of any other box are computed from."""

    photo: np.ndarray = field(repr=False)  # (H, W, 3) uint8, EXIF orientation applied
    estimate: CropBox  # the alignment's box (the centred square without a face)
    label: np.ndarray = field(repr=False)  # (25,) the estimated camera
    message: str  # how the crop and camera were obtained
    warning: bool  # no usable face: the camera is a guess to set by hand
    landmarks: np.ndarray | None = field(default=None, repr=False)  # (68, 2) photo pixels
    mask: np.ndarray | None = field(default=None, repr=False)  # (H, W) person probability of the photo

    @property
    def yaw(self) -> float:
        return orbit_angles(self.label)[0]

    @property
    def pitch(self) -> float:
        return orbit_angles(self.label)[1]

    def check(self, box: CropBox) -> None:
        """One-line ``ValueError`` for a box that holds too little of the photo to invert."""
        height, width = self.photo.shape[:2]
        if not math.isfinite(box.side) or box.side < MIN_CROP_SIDE:
            raise ValueError(f"crop box {box.side:.0f} px across: at least {MIN_CROP_SIDE} px of the photo are needed")
        if box.side > 4 * max(width, height):
            raise ValueError(
                f"crop box {box.side:.0f} px across is over 4 times the {width}x{height} photo: make it smaller"
            )
        if not (0 <= box.centre[0] <= width and 0 <= box.centre[1] <= height):
            raise ValueError(
                f"crop centre ({box.centre[0]:.0f}, {box.centre[1]:.0f}) lies outside the {width}x{height} photo"
            )

    def crop(self, box: CropBox, resolution: int) -> Image.Image:
        return Image.fromarray(warp(self.photo, box.affine(resolution), resolution))

    def crop_mask(self, box: CropBox, resolution: int) -> np.ndarray | None:
        """(resolution, resolution) float person probability inside ``box``; None without a mask."""
        if self.mask is None:
            return None
        return warp(self.mask, box.affine(resolution), resolution, border_value=0.0)

    def camera(self, box: CropBox) -> tuple[float, float] | None:
        """(yaw, pitch) in degrees of the head framed by ``box`` (landmarks refitted with the head centre
        and size the box fixes); None without landmarks (the camera is the user's to set)."""
        if self.landmarks is None:
            return None
        x, _ = box.axes()
        pose = fit_rotation(self.landmarks, np.asarray(box.centre), x, rotation_from_label(self.label))
        return orbit_angles(label_from_rotation(torch.as_tensor(pose.rotation, dtype=torch.float32)[None])[0])

    def portrait(self, box: CropBox, yaw: float, pitch: float, config: GeneratorConfig) -> Portrait:
        """The inversion target: the crop of ``box`` at the model's resolution seen at ``yaw``/``pitch``
        (degrees; the estimate's radius and focal kept)."""
        estimate = Portrait(self.crop(box, config.image_resolution), self.label, self.message)
        return adjust_portrait(estimate, config, yaw=yaw, pitch=pitch)


def locate_photo(image: Image.Image, config: GeneratorConfig, face: int | None = None) -> PhotoCrop:
    """Align ``image`` (RGB) for the Invert panel: the face's official crop and camera, or, without a
    usable face, the centred square at yaw 0, pitch 0 with a one-line note why (``warning`` set)."""
    photo = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    try:
        aligned = align_face(image, config, face)
    except ValueError as error:
        height, width = photo.shape[:2]
        check_photo_size(width, height, minimum=MIN_CROP_SIDE)
        side = min(width, height)
        square = CropBox(((width - 1) / 2.0, (height - 1) / 2.0), (side / 2.0, 0.0))
        reason = str(error).split(";")[0]
        return PhotoCrop(
            photo,
            square,
            camera_label(0.0, 0.0, config),
            f"{reason}: using the centred square as it is; set the camera by hand",
            True,
            mask=_person_mask(photo),
        )
    assert aligned.affine is not None and aligned.face is not None
    return PhotoCrop(
        photo,
        CropBox.from_affine(aligned.affine, config.image_resolution),
        np.asarray(aligned.label, dtype=np.float32),
        aligned.message,
        False,
        aligned.face.landmarks,
        aligned.photo_mask,
    )


def _person_mask(photo: np.ndarray) -> np.ndarray | None:
    """The segmenter's person probability, or None where it cannot run (no OpenCV or LiteRT)."""
    try:
        return SelfieSegmenter()(photo)
    except (ImportError, MissingCapability):
        return None
