"""The models the alignment pipeline uses, behind small interfaces so better ones can be plugged in.

Every model here ships inside an installable package and runs offline on the CPU:

* :class:`DlibLandmarks`: dlib's HOG frontal face detector (built into dlib) + the 68-point shape
  predictor shipped by the ``face-recognition-models`` package;
* :class:`CascadeProfilePose`: OpenCV's Haar profile-face cascade (shipped in ``cv2.data``) for a
  rough yaw of side views; no detection at all reads as a back view;
* :class:`GrabCutSegmenter`: OpenCV's GrabCut, seeded with a portrait prior (border = background,
  face/head region = foreground). It is a classical colour-model segmentation, not a learned person
  segmenter: no such model that ships inside a package runs with this project's numpy 2 stack
  (MediaPipe's selfie segmenter only ships in releases that require numpy < 2); plug one in through
  :class:`Segmenter`.

Each model checks for what it needs when first used (:func:`opencv_with`, :func:`dlib_module`) and
raises :class:`~panohead.errors.MissingCapability` naming the missing piece and the fix.
"""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from panohead.errors import MissingCapability, one_line

OPENCV_FIX = "pip install 'opencv-python-headless>=4.8,<5'"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels (left, top, right, bottom)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


@dataclass(frozen=True)
class Face:
    """A detected face: its box, detector score and 68 landmarks (68, 2) in pixels (dlib/iBUG order)."""

    box: Box
    score: float
    landmarks: np.ndarray


class LandmarkDetector(Protocol):
    def __call__(self, image: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, best first."""


class RoughPoseEstimator(Protocol):
    def __call__(self, image: np.ndarray, head: Box) -> tuple[float, float, str]:
        """(yaw, pitch) in degrees of a head without usable landmarks, and a note saying how."""


class Segmenter(Protocol):
    def __call__(self, image: np.ndarray, face: Box | None) -> np.ndarray:
        """(H, W) float32 foreground (person) probability in [0, 1]."""


def opencv_with(*names: str, purpose: str = "photo alignment"):
    """The ``cv2`` module, checked for the (dotted) attributes ``names`` that ``purpose`` calls.

    OpenCV's packages change shape between majors (OpenCV 5 dropped ``CascadeClassifier`` and the
    bundled Haar cascades), so a check by name gives one line instead of an ``AttributeError`` deep
    inside a pipeline.
    """
    try:
        import cv2
    except ImportError as error:
        raise MissingCapability(f"{purpose} needs OpenCV, which is not importable ({one_line(error)}): {OPENCV_FIX}") from None
    missing = [name for name in names if not _has_path(cv2, name)]
    if missing:
        listed = ", ".join(f"cv2.{name}" for name in missing)
        raise MissingCapability(f"{purpose} needs {listed}, absent from OpenCV {getattr(cv2, '__version__', '?')}: {OPENCV_FIX}")
    return cv2


def _has_path(module, dotted: str) -> bool:
    value = module
    for part in dotted.split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def dlib_module():
    """The ``dlib`` module, or one line saying how to install it (it ships as the ``dlib-bin`` wheel)."""
    try:
        import dlib
    except ImportError as error:
        raise MissingCapability(f"face landmarks need dlib, which is not importable ({one_line(error)}): "
                                "pip install 'dlib-bin>=19.24,<21'") from None
    return dlib


def _package_file(package: str, *parts: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise MissingCapability(f"the {package!r} package is not installed (pip install {package.replace('_', '-')})")
    path = os.path.join(os.path.dirname(spec.origin), *parts)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: model file missing from the {package!r} package")
    return path


@lru_cache(maxsize=1)
def _dlib_models():
    dlib = dlib_module()
    predictor = dlib.shape_predictor(_package_file("face_recognition_models", "models", "shape_predictor_68_face_landmarks.dat"))
    return dlib.get_frontal_face_detector(), predictor


class DlibLandmarks:
    """HOG face detector + 68-point landmarks; ``min_score`` drops weak detections."""

    def __init__(self, min_score: float = 0.3, upsample: int = 1):
        self.min_score = min_score
        self.upsample = upsample

    def __call__(self, image: np.ndarray) -> list[Face]:
        dlib = dlib_module()
        detector, predictor = _dlib_models()
        rects, scores, _ = detector.run(np.ascontiguousarray(image), self.upsample, 0.0)
        faces = []
        for rect, score in sorted(zip(rects, scores), key=lambda pair: -pair[1]):
            if score < self.min_score:
                continue
            shape = predictor(image, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(Box(rect.left(), rect.top(), rect.right(), rect.bottom()), float(score), points))
        return faces


@lru_cache(maxsize=1)
def _profile_cascade():
    purpose = "the yaw of a photo without a frontal face (or give it in --overrides)"
    cv2 = opencv_with("CascadeClassifier", "data.haarcascades", purpose=purpose)
    path = os.path.join(cv2.data.haarcascades, "haarcascade_profileface.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise MissingCapability(f"{path}: OpenCV's profile-face cascade is missing or unreadable, needed for {purpose}: {OPENCV_FIX}")
    return cascade


class CascadeProfilePose:
    """Rough yaw for side and back views.

    OpenCV's profile cascade finds faces pointing towards image-left; run on the image and its
    mirror to tell the two sides apart. A face pointing to image-left is seen by a camera on the
    head's left (world +x, since image-right is world -z there): yaw +90 degrees; the mirrored case
    is -90. No profile at all: a back view, yaw 180. Pitch is unknown at this level and reported as 0.
    """

    def __call__(self, image: np.ndarray, head: Box) -> tuple[float, float, str]:
        cascade = _profile_cascade()
        cv2 = opencv_with()
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        size = max(24, int(0.3 * head.height))
        found = {}
        for side, picture in (("left", grey), ("right", np.ascontiguousarray(grey[:, ::-1]))):
            hits = cascade.detectMultiScale(picture, scaleFactor=1.1, minNeighbors=5, minSize=(size, size))
            found[side] = len(hits) > 0 and any(_overlaps(hit, head, picture.shape[1], mirrored=side == "right") for hit in hits)
        if found["left"] and not found["right"]:
            return 90.0, 0.0, "profile face pointing to image-left (Haar cascade): yaw +90"
        if found["right"] and not found["left"]:
            return -90.0, 0.0, "profile face pointing to image-right (Haar cascade): yaw -90"
        if found["left"] and found["right"]:
            return 0.0, 0.0, "profile cascade fired on both sides: near-frontal, yaw 0"
        return 180.0, 0.0, "no face or profile found: back view, yaw 180"


def _overlaps(hit, head: Box, width: int, mirrored: bool) -> bool:
    x, y, w, h = (float(v) for v in hit)
    if mirrored:
        x = width - x - w
    cx, cy = x + w / 2, y + h / 2
    return head.left <= cx <= head.right and head.top <= cy <= head.bottom


class GrabCutSegmenter:
    """Portrait foreground by GrabCut: top/side border pixels are background, the face (if known) foreground.

    Runs on a copy downscaled to ``work_size`` pixels (long side) for speed, then upsamples the
    result. Returns a soft mask (slightly blurred hard labels) in [0, 1].
    """

    def __init__(self, work_size: int = 256, iterations: int = 5, border: float = 0.03):
        self.work_size = work_size
        self.iterations = iterations
        self.border = border

    def __call__(self, image: np.ndarray, face: Box | None) -> np.ndarray:
        cv2 = opencv_with("grabCut", purpose="person masks (GrabCut)")
        height, width = image.shape[:2]
        scale = min(1.0, self.work_size / max(height, width))
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        labels = np.full((h, w), cv2.GC_PR_FGD, np.uint8)
        edge = max(1, int(self.border * max(h, w)))
        # Top and side borders are background; the bottom edge is not (shoulders run off a portrait's bottom).
        labels[:edge, :] = cv2.GC_BGD
        labels[:-edge, :edge] = labels[:-edge, -edge:] = cv2.GC_BGD
        if face is not None:
            cx, cy = face.centre[0] * scale, face.centre[1] * scale
            rx, ry = 0.3 * face.width * scale, 0.35 * face.height * scale
            yy, xx = np.mgrid[0:h, 0:w]
            labels[((xx - cx) / max(rx, 1)) ** 2 + ((yy - cy) / max(ry, 1)) ** 2 <= 1] = cv2.GC_FGD
            # Far to the sides of the face at its height is probably background (shoulders are lower).
            side = (np.abs(xx - cx) > 2.2 * face.width * scale) & (yy < cy + face.height * scale)
            labels[side & (labels == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, background, foreground, self.iterations, cv2.GC_INIT_WITH_MASK)
        hard = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
        hard = _largest_component(hard)
        soft = cv2.GaussianBlur(hard, (0, 0), sigmaX=0.7)
        return np.clip(cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 4-connected foreground blob (the person), dropping background specks."""
    cv2 = opencv_with()
    count, components = cv2.connectedComponents((mask > 0.5).astype(np.uint8), connectivity=4)
    if count <= 2:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return (components == int(np.argmax(sizes))).astype(np.float32)


def head_box_from_mask(mask: np.ndarray) -> Box | None:
    """The head of a person mask: from the top of the silhouette down to the neck.

    Walks down the rows: the head's width is the widest row seen so far; the head ends at the first
    row narrower than 60% of it once at least 70% of that width has been covered (the neck), or wider
    than 150% of it (shoulders under long hair), or at 1.4 head widths. Returns None for an empty mask.
    """
    solid = mask > 0.5
    rows = np.flatnonzero(solid.any(axis=1))
    if rows.size == 0:
        return None
    top = int(rows[0])
    widest, bottom = 0, top
    for row in range(top, solid.shape[0]):
        columns = np.flatnonzero(solid[row])
        span = int(columns[-1] - columns[0] + 1) if columns.size else 0
        covered = row - top
        if covered < 0.05 * solid.shape[0]:  # a stray hair tip on top must not end the head
            widest = max(widest, span)
            bottom = row
            continue
        if widest and covered > 0.7 * widest and (span < 0.6 * widest or span > 1.5 * widest):
            break
        if widest and covered > 1.4 * widest:
            break
        widest = max(widest, span)
        bottom = row
    head = solid[top:bottom + 1]
    columns = np.flatnonzero(head.any(axis=0))
    weights = head.sum(axis=0)[columns[0]:columns[-1] + 1]
    centre_x = float((np.arange(columns[0], columns[-1] + 1) * weights).sum() / max(weights.sum(), 1))
    return Box(centre_x - widest / 2, float(top), centre_x + widest / 2, float(bottom + 1))


def orbit_from_pnp(rotation: np.ndarray, translation: np.ndarray, pivot: tuple[float, float, float]) -> tuple[float, float]:
    """Orbit yaw and pitch (degrees) of a camera found by PnP against a template in world units.

    ``rotation`` (3, 3) and ``translation`` (3,) map world points into OpenCV camera coordinates, so
    the camera centre in the world is -R^T t; yaw and pitch are the direction from the orbit's
    look-at ``pivot`` to that centre (yaw 0 = in front of the face, positive towards +x).
    """
    centre = -rotation.T @ translation.reshape(3)
    direction = centre - np.asarray(pivot)
    direction /= np.linalg.norm(direction)
    yaw = math.degrees(math.atan2(direction[0], direction[2]))
    pitch = math.degrees(math.asin(float(np.clip(direction[1], -1.0, 1.0))))
    return yaw, pitch
