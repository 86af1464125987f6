"""Head pose from 68 landmarks and the official PanoHead crop framing (see ../shared/spec/official_format.md).

The official pipeline fits a 3D morphable model (3DDFA_V2) under a scaled orthographic camera to
the FFHQ crop of a photo: its rotation is the camera label, its scale and projected head centre
re-centre and re-size the FFHQ quad. We do the same with one mean face instead of a morphable model:

* :data:`MEAN_FACE`, the 68 dlib/iBUG points in millimetres (x to the subject's left, i.e. image
  right; y up; z towards the viewer; nose tip at the origin), in the official world frame. Depths are
  a rough anthropometric profile (:data:`DEPTH_PRIOR`: eye corners 22-35 mm and the jaw angle up to
  90 mm behind the nose tip, outer canthi 90 mm apart); x and y were fitted by :func:`fit_mean_face`
  to the four official sample crops with their official camera labels (``tests/engine/data/official_crops.json``).
* :func:`fit_pose`: rotation, scale and shift of the mean face that best project onto the landmarks
  (least squares over :data:`POSE_POINTS`, the points that do not move with expression: jaw line,
  nose, eyes; brows and mouth do).
* :func:`official_framing`: the FFHQ quad's orientation, centred on the projected head centre
  :data:`HEAD_CENTRE` and :data:`HALF_SIDE_MM` millimetres (times the fitted scale) to a side, the two
  constants fitted by :func:`fit_framing` to the same crops.

Measured errors (leave-one-out over the four official crops: constants fitted on three, checked on
the fourth; ``tests/engine/test_face_pose.py``): camera yaw/pitch within 2.9 degrees, crop centre within
1.7% and crop size within 1.6% of the official crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rough anthropometric depth (mm, negative = behind the nose tip) of each dlib point: jaw line 0-16,
# brows 17-26, nose bridge 27-30, nostrils 31-35, eyes 36-47, outer lips 48-59, inner lips 60-67.
DEPTH_PRIOR = np.array(
    [
        -90,
        -86,
        -80,
        -72,
        -62,
        -50,
        -35,
        -24,
        -20,
        -24,
        -35,
        -50,
        -62,
        -72,
        -80,
        -86,
        -90,
        -45,
        -36,
        -29,
        -23,
        -20,
        -20,
        -23,
        -29,
        -36,
        -45,
        -18,
        -12,
        -6,
        0,
        -22,
        -16,
        -14,
        -16,
        -22,
        -35,
        -27,
        -24,
        -22,
        -24,
        -27,
        -22,
        -24,
        -27,
        -35,
        -27,
        -24,
        -28,
        -16,
        -13,
        -12,
        -13,
        -16,
        -28,
        -20,
        -16,
        -14,
        -16,
        -20,
        -26,
        -16,
        -15,
        -16,
        -26,
        -16,
        -15,
        -16,
    ],
    dtype=np.float64,
)
# dlib point i of a face is point MIRROR[i] of the x-flipped face.
MIRROR = np.array(
    [
        *range(16, -1, -1),
        *range(26, 16, -1),
        27,
        28,
        29,
        30,
        35,
        34,
        33,
        32,
        31,
        45,
        44,
        43,
        42,
        47,
        46,
        39,
        38,
        37,
        36,
        41,
        40,
        54,
        53,
        52,
        51,
        50,
        49,
        48,
        59,
        58,
        57,
        56,
        55,
        64,
        63,
        62,
        61,
        60,
        67,
        66,
        65,
    ]
)
POSE_POINTS = np.r_[0:17, 27:48]
EYE_CORNER_SPAN_MM = 90.0  # outer canthi (points 36 and 45)

# fit_mean_face(all four records of tests/engine/data/official_crops.json) and fit_framing on the result;
# tests/engine/test_face_pose.py re-derives them from that file.
MEAN_FACE = np.array(
    [
        [-69.3, 25.1, -90.0],
        [-69.0, 6.8, -86.0],
        [-67.0, -11.5, -80.0],
        [-64.2, -29.1, -72.0],
        [-58.6, -45.7, -62.0],
        [-48.6, -59.6, -50.0],
        [-34.7, -70.4, -35.0],
        [-18.3, -78.8, -24.0],
        [0.0, -81.3, -20.0],
        [18.3, -78.8, -24.0],
        [34.7, -70.4, -35.0],
        [48.6, -59.6, -50.0],
        [58.6, -45.7, -62.0],
        [64.2, -29.1, -72.0],
        [67.0, -11.5, -80.0],
        [69.0, 6.8, -86.0],
        [69.3, 25.1, -90.0],
        [-58.3, 41.7, -45.0],
        [-50.6, 52.7, -36.0],
        [-37.4, 57.0, -29.0],
        [-23.8, 55.6, -23.0],
        [-11.1, 50.3, -20.0],
        [11.1, 50.3, -20.0],
        [23.8, 55.6, -23.0],
        [37.4, 57.0, -29.0],
        [50.6, 52.7, -36.0],
        [58.3, 41.7, -45.0],
        [0.0, 35.9, -18.0],
        [0.0, 23.9, -12.0],
        [0.0, 12.3, -6.0],
        [0.0, 0.0, 0.0],
        [-14.4, -10.9, -22.0],
        [-7.4, -12.7, -16.0],
        [0.0, -14.7, -14.0],
        [7.4, -12.7, -16.0],
        [14.4, -10.9, -22.0],
        [-45.0, 31.4, -35.0],
        [-37.4, 36.8, -27.0],
        [-28.1, 37.1, -24.0],
        [-19.4, 30.9, -22.0],
        [-28.3, 29.6, -24.0],
        [-37.7, 29.3, -27.0],
        [19.4, 30.9, -22.0],
        [28.1, 37.1, -24.0],
        [37.4, 36.8, -27.0],
        [45.0, 31.4, -35.0],
        [37.7, 29.3, -27.0],
        [28.3, 29.6, -24.0],
        [-28.2, -34.3, -28.0],
        [-18.1, -28.5, -16.0],
        [-7.7, -25.5, -13.0],
        [0.0, -27.3, -12.0],
        [7.7, -25.5, -13.0],
        [18.1, -28.5, -16.0],
        [28.2, -34.3, -28.0],
        [18.4, -42.1, -20.0],
        [8.2, -46.0, -16.0],
        [0.0, -46.8, -14.0],
        [-8.2, -46.0, -16.0],
        [-18.4, -42.1, -20.0],
        [-23.9, -34.5, -26.0],
        [-7.7, -33.3, -16.0],
        [0.0, -33.8, -15.0],
        [7.7, -33.3, -16.0],
        [23.9, -34.5, -26.0],
        [7.9, -36.2, -16.0],
        [0.0, -36.9, -15.0],
        [-7.9, -36.2, -16.0],
    ]
)
HEAD_CENTRE = np.array([0.0, 6.8, -92.8])
HALF_SIDE_MM = 118.6

# The official crop: the refined quad is drawn onto pixels 25..536 (x) and 51..562 (y) of a 563-pixel
# canvas (512 plus 5% left/right and 10% top), which the model sees resized to its resolution.
CANVAS = 563
QUAD_CENTRE = (280.5, 306.5)
QUAD_HALF = 255.5


@dataclass(frozen=True)
class HeadPose:
    """A scaled orthographic fit: landmark (x, y) ~ ``scale`` * (R p)_xy * (1, -1) + ``shift``.

    ``rotation`` (3, 3) turns mean-face (world) points into the camera frame with y up and z towards
    the viewer, the rotation the official label is made from (:func:`panohead.camera.label_from_rotation`).
    ``scale`` is pixels per millimetre, ``shift`` (2,) pixels, ``rms`` the residual in pixels.
    """

    rotation: np.ndarray
    scale: float
    shift: np.ndarray
    rms: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) mean-face points in mm -> (N, 2) image pixels."""
        camera = points @ self.rotation.T
        return np.stack([self.scale * camera[:, 0], -self.scale * camera[:, 1]], axis=1) + self.shift


def _rotation(vector: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(vector).as_matrix()


def fit_pose(landmarks: np.ndarray, face: np.ndarray = MEAN_FACE) -> HeadPose:
    """Rotation, scale and shift of ``face`` (68, 3) that best project onto ``landmarks`` (68, 2) pixels."""
    from scipy.optimize import least_squares

    points, target = face[POSE_POINTS], landmarks[POSE_POINTS]

    def residual(params: np.ndarray) -> np.ndarray:
        return (HeadPose(_rotation(params[:3]), params[3], params[4:6], 0.0).project(points) - target).ravel()

    scale = np.linalg.norm(landmarks[45] - landmarks[36]) / np.linalg.norm(face[45] - face[36])
    start = np.r_[0.0, 0.0, 0.0, scale, target.mean(0) - scale * face[POSE_POINTS, :2].mean(0) * (1, -1)]
    fit = least_squares(residual, start)
    return HeadPose(_rotation(fit.x[:3]), float(fit.x[3]), fit.x[4:6], float(np.sqrt(np.mean(fit.fun**2))))


def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FFHQ crop square of 68 landmarks: centre, half-side vector x (image right) and y (image down)."""
    eye_left, eye_right = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    eye_mid, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    eye_to_mouth = (landmarks[48] + landmarks[54]) / 2 - eye_mid
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x *= max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth)) / np.hypot(*x)
    return eye_mid + 0.1 * eye_to_mouth, x, np.array([-x[1], x[0]])


@dataclass(frozen=True)
class Framing:
    """The official crop of one face: the quad centre and half-side vectors (photo pixels), and the
    head pose fitted in the quad's own axes (so its roll is relative to the crop, as the label's is)."""

    centre: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pose: HeadPose

    @property
    def side(self) -> float:
        """The quad's side in photo pixels (the official pipeline skips faces under 256)."""
        return 2.0 * float(np.hypot(*self.x))

    def affine(self, resolution: int) -> np.ndarray:
        """(2, 3) map from crop pixel (column, row) to photo pixel of the official crop at ``resolution``."""
        step = CANVAS / resolution / QUAD_HALF  # quad half-sides per crop pixel
        origin = (0.5 * CANVAS / resolution - 0.5 - np.asarray(QUAD_CENTRE)) / QUAD_HALF
        linear = np.stack([self.x * step, self.y * step], axis=1)
        return np.concatenate([linear, (self.centre + origin[0] * self.x + origin[1] * self.y)[:, None]], axis=1)


def official_framing(
    landmarks: np.ndarray,
    face: np.ndarray = MEAN_FACE,
    head_centre: np.ndarray = HEAD_CENTRE,
    half_side_mm: float = HALF_SIDE_MM,
) -> Framing:
    """The official crop for 68 landmarks (photo pixels): FFHQ quad orientation, mean-face centre and size."""
    centre, x, _ = ffhq_quad(landmarks)
    unit = x / np.hypot(*x)
    to_quad = np.array([[unit[0], unit[1]], [-unit[1], unit[0]]])  # photo offsets -> quad axes
    pose = fit_pose((landmarks - centre) @ to_quad.T, face)
    head = pose.project(head_centre[None])[0] @ to_quad + centre
    half = half_side_mm * pose.scale * unit
    return Framing(head, half, np.array([-half[1], half[0]]), pose)


def rotation_from_label(label: np.ndarray) -> np.ndarray:
    """The head rotation (3, 3) an official-style label (25,) was made from (inverse of label_from_rotation)."""
    cam2world = np.asarray(label[:16], dtype=np.float64).reshape(4, 4)
    return np.diag([1.0, -1.0, -1.0]) @ cam2world[:3, :3].T


def fit_mean_face(
    landmarks: list[np.ndarray], rotations: list[np.ndarray], depth: np.ndarray = DEPTH_PRIOR, iterations: int = 15
) -> np.ndarray:
    """Mean face (68, 3) whose depths are ``depth`` and whose x, y best explain faces of known rotation.

    Alternates a per-face scale/shift fit with a linear solve for every point's x, y over all faces,
    then makes it left-right symmetric and scales it to :data:`EYE_CORNER_SPAN_MM`.
    """
    face = np.column_stack([np.zeros((68, 2)), depth])
    pairs = list(zip(landmarks, rotations, strict=True))
    face[:, :2] = np.mean([_back_project(points, rotation, depth, None) for points, rotation in pairs], axis=0)
    for _ in range(iterations):
        face[:, :2] = np.mean([_back_project(points, rotation, depth, face) for points, rotation in pairs], axis=0)
        face[:, :2] = (face[:, :2] + face[MIRROR, :2] * (-1, 1)) / 2
        face[:, 1] -= face[30, 1]
        face[:, :2] *= EYE_CORNER_SPAN_MM / np.linalg.norm(face[45, :2] - face[36, :2])
    return face


def _back_project(
    landmarks: np.ndarray, rotation: np.ndarray, depth: np.ndarray, face: np.ndarray | None
) -> np.ndarray:
    """(68, 2) x, y of each point that, at its ``depth`` and rotated by ``rotation``, lands on ``landmarks``."""
    from scipy.optimize import least_squares

    if face is None:  # first pass: scale from the eye corners, nose tip fixed
        scale, shift = np.linalg.norm(landmarks[45] - landmarks[36]) / EYE_CORNER_SPAN_MM, landmarks[30]
    else:

        def residual(params: np.ndarray) -> np.ndarray:
            return (
                HeadPose(rotation, params[0], params[1:], 0.0).project(face[POSE_POINTS]) - landmarks[POSE_POINTS]
            ).ravel()

        params = least_squares(residual, np.r_[1.0, landmarks[30]]).x
        scale, shift = params[0], params[1:]
    camera = np.column_stack([(landmarks[:, 0] - shift[0]) / scale, -(landmarks[:, 1] - shift[1]) / scale])
    return np.stack([np.linalg.solve(rotation[:2, :2], camera[i] - rotation[:2, 2] * depth[i]) for i in range(68)])


def fit_framing(landmarks: list[np.ndarray], face: np.ndarray, crop_size: int = CANVAS) -> tuple[np.ndarray, float]:
    """(head centre (3,), half side in mm) that put official crops' quads where they are.

    ``landmarks`` are detected on official crops of ``crop_size`` pixels, in which the refined quad is
    the fixed square of :data:`QUAD_CENTRE` / :data:`QUAD_HALF` (scaled to ``crop_size``).
    The head centre is on the face's symmetry plane (x = 0); its y and z solve a linear least squares.
    """
    ratio = crop_size / CANVAS
    centre, half = (np.asarray(QUAD_CENTRE) + 0.5) * ratio - 0.5, QUAD_HALF * ratio
    rows, values, sizes = [], [], []
    for points in landmarks:
        pose = fit_pose(points, face)
        rows += [pose.scale * pose.rotation[0, 1:], -pose.scale * pose.rotation[1, 1:]]
        values += list(centre - pose.shift)
        sizes.append(half / pose.scale)
    yz = np.linalg.lstsq(np.array(rows), np.array(values), rcond=None)[0]
    return np.r_[0.0, yz], float(np.mean(sizes))


def head_in_crop(centre: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, float]:
    """Where a crop framed as the official ones puts the head: (head centre in photo pixels (2,), fitted
    scale in pixels per millimetre) of the crop square with ``centre`` (2,) and half-side vector ``half``
    (2,, along the crop's x axis), both in photo pixels. The inverse of the framing: for the crop of
    :meth:`Framing.affine` it returns ``Framing.centre`` and ``pose.scale``."""
    y = np.array([-half[1], half[0]])
    offset = (np.asarray(QUAD_CENTRE) - (CANVAS / 2 - 0.5)) / (CANVAS / 2)  # head centre in crop half-sides
    head = np.asarray(centre, dtype=np.float64) + offset[0] * half + offset[1] * y
    return head, float(np.hypot(*half)) * (2 * QUAD_HALF / CANVAS) / HALF_SIDE_MM


def fit_rotation(
    landmarks: np.ndarray,
    centre: np.ndarray,
    half: np.ndarray,
    start: np.ndarray,
    face: np.ndarray = MEAN_FACE,
    head_centre: np.ndarray = HEAD_CENTRE,
) -> HeadPose:
    """The head rotation that a hand-placed crop implies: the crop square (``centre``, ``half`` as in
    :func:`head_in_crop`) fixes where the head centre is and how large the head is, and only the
    rotation of the mean face is fitted to the 68 ``landmarks`` (photo pixels), from ``start`` (3, 3).
    Moving the crop off the fitted head centre turns the head (the face then sits off the head's
    middle); the pose is in the crop's own axes, as :func:`official_framing`'s is."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    head, scale = head_in_crop(centre, half)
    unit = np.asarray(half, dtype=np.float64) / np.hypot(*half)
    to_crop = np.array([[unit[0], unit[1]], [-unit[1], unit[0]]])
    target = ((landmarks - head) @ to_crop.T)[POSE_POINTS]
    points = face[POSE_POINTS]

    def pose(vector: np.ndarray) -> HeadPose:
        rotation = _rotation(vector)
        return HeadPose(rotation, scale, -scale * (rotation @ head_centre)[:2] * (1, -1), 0.0)

    fit = least_squares(lambda v: (pose(v).project(points) - target).ravel(), Rotation.from_matrix(start).as_rotvec())
    found = pose(fit.x)
    return HeadPose(found.rotation, scale, found.shift, float(np.sqrt(np.mean(fit.fun**2))))
