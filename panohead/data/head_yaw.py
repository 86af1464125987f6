"""Yaw of a head whose face is not visible (profiles, backs): a small CNN fitted on synthetic renders.

Stage 2 of the alignment (PanoHead, Sec. 3.4) needs a yaw for heads without usable landmarks. The
camera of a synthetic head is exact, so a classifier fitted on our renders (never on official code or
data) learns the cues that remain without a face: where skin, ears and hair sit in the head, the
silhouette of the nose and chin, the nape. It sees a square patch around the head box from the person
mask and scores ``BINS`` yaw bins of 15 degrees; the estimate is the circular mean of the probability
near the best bin. The patch and its mirror are both scored (a mirrored head has the opposite yaw), so
the estimate is exactly antisymmetric, and so are 27 patches of the head box moved and resized within
the jitter the net was fitted with (a person mask a little off gives one of those boxes); their
probabilities are averaged. The confidence is the probability that the yaw is within ``TRUST_SPAN``
(15) degrees of the estimate, the bound the alignment promises; before, it counted 30 degrees either
side of the best bin, one patch only, and a head 26 degrees off scored 0.95 (docs/alignment.md).

Fitted by ``python -m panohead.data.fit_head_yaw`` (renders, split, training, weights written to
``models/head_yaw.safetensors``); measured per yaw bucket in ``docs/alignment.md``.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from panohead.data.estimators import MODEL_DIR, Box, RoughPose, opencv_with, profile_side
from panohead.errors import MissingCapability, one_line

BINS = 24  # bin k is centred on yaw 15 * k degrees (0 = front, 180 = back)
PATCH = 40  # the head patch is PATCH x PATCH pixels
PATCH_SCALE = 1.4  # patch side per longer side of the head box (takes in the ears, a tail, the chin)
MEAN_SPAN = 30.0  # degrees either side of the best bin averaged into the estimate
TRUST_SPAN = 15.0  # the confidence is the probability of a yaw within this many degrees of the estimate
# Box jitter scored at test time (size factor, shift in box sides): inside the fitting's 8% and 6%.
JITTER_SCALES = (0.92, 1.0, 1.08)
JITTER_SHIFTS = (-0.05, 0.0, 0.05)
WEIGHTS = os.path.join(MODEL_DIR, "head_yaw.safetensors")


def head_patch(image: np.ndarray, head: Box) -> np.ndarray:
    """(3, PATCH, PATCH) float32: the square around ``head`` in an (H, W, 3) uint8 image, resampled,
    zero mean and unit variance over the whole patch (keeps the colour contrast of skin and hair,
    drops the exposure). Outside the photo is black."""
    cv2 = opencv_with()
    side = PATCH_SCALE * max(head.width, head.height)
    cx, cy = head.centre
    step = side / PATCH
    affine = np.array([[step, 0.0, cx - side / 2 + 0.5 * step - 0.5], [0.0, step, cy - side / 2 + 0.5 * step - 0.5]])
    source = image
    if step > 1.5:
        source = cv2.GaussianBlur(image, (0, 0), sigmaX=0.45 * step)
    patch = cv2.warpAffine(
        np.ascontiguousarray(source),
        affine,
        (PATCH, PATCH),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(np.float32)
    patch = (patch - patch.mean()) / (patch.std() + 1e-3)
    return np.ascontiguousarray(patch.transpose(2, 0, 1))


class HeadYawNet(nn.Module):
    """(B, 3, PATCH, PATCH) patches -> (B, BINS) yaw-bin logits: four 3x3 conv blocks (each halving
    the size but the last), then a linear layer over the whole 5 x 5 map (the side of the head the
    face is on matters, so the map is not pooled away)."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers, channels = [], 3
        for index, out in enumerate((width, 2 * width, 4 * width, 4 * width)):
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            if index < 3:
                layers.append(nn.MaxPool2d(2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * (PATCH // 8) ** 2, BINS)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(patches).flatten(1))


MIRRORED_BINS = [(-k) % BINS for k in range(BINS)]  # the bin of yaw -y for each bin of yaw y


def yaw_probabilities(net: HeadYawNet, patches: torch.Tensor) -> torch.Tensor:
    """(B, BINS) probabilities, averaged over each patch and its mirror (mirror: yaw -> -yaw)."""
    with torch.no_grad():
        logits = net(patches) + net(patches.flip(-1))[:, MIRRORED_BINS]
    return torch.softmax(logits / 2, dim=1)


def read_yaw(probabilities: np.ndarray) -> tuple[float, float]:
    """(yaw in degrees (-180, 180], confidence) from one row of bin probabilities (BINS,).

    The yaw is the circular mean of the bins within ``MEAN_SPAN`` of the best bin, weighted by their
    probability; the confidence is the probability within ``TRUST_SPAN`` of that yaw, each bin's
    probability spread evenly over its 15 degrees (1: all of it that close; a flat row gives 2/BINS)."""
    best = int(np.argmax(probabilities))
    width = 360.0 / BINS
    reach = int(MEAN_SPAN // width)
    near = [(best + k) % BINS for k in range(-reach, reach + 1)]
    angles = np.radians(np.array(near) * width)
    weights = probabilities[near]
    yaw = math.degrees(math.atan2(float((weights * np.sin(angles)).sum()), float((weights * np.cos(angles)).sum())))
    yaw = yaw if yaw > -180.0 else 180.0
    low = (np.arange(BINS) * width - width / 2 - yaw + 180.0) % 360.0 - 180.0  # each bin's start, from the yaw
    overlap = np.clip(np.minimum(low + width, TRUST_SPAN) - np.maximum(low, -TRUST_SPAN), 0.0, width) / width
    return yaw, float((probabilities * overlap).sum())


def resized_box(box: Box, scale: float, dx: float, dy: float) -> Box:
    """``box`` scaled by ``scale`` about its centre, moved by ``dx``, ``dy`` times its longer side."""
    size = max(box.width, box.height)
    cx, cy = box.centre[0] + dx * size, box.centre[1] + dy * size
    half_w, half_h = box.width * scale / 2, box.height * scale / 2
    return Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def jittered_boxes(head: Box) -> list[Box]:
    """The 27 boxes around ``head`` that are scored (symmetric left-right, so mirroring is exact)."""
    return [resized_box(head, scale, dx, dy) for scale in JITTER_SCALES for dx in JITTER_SHIFTS for dy in JITTER_SHIFTS]


@lru_cache(maxsize=1)
def load_head_yaw_net(path: str = WEIGHTS) -> HeadYawNet:
    """The fitted net (eval mode, CPU), read once; a one-line error when the weights file is missing."""
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: the head-yaw weights are missing; refit with python -m panohead.data.fit_head_yaw"
        )
    net = HeadYawNet()
    net.load_state_dict(load_file(path))
    return net.eval()


class LearnedHeadPose:
    """Stage-2 pose: yaw from :class:`HeadYawNet`, cross-checked by the profile cascade; pitch 0.

    When the cascade sees a profile pointing one way and the net's yaw is not within ``AGREE`` degrees
    of that side (+-90), the two disagree and the confidence is halved. Without OpenCV's cascades
    (OpenCV 5 dropped them) the net's answer stands and the note says the cross-check is missing.
    Pitch is not estimated (the renders it was fitted on span -20..20 degrees) and reported as 0.
    """

    AGREE = 60.0

    def __call__(self, image: np.ndarray, head: Box) -> RoughPose:
        patches = torch.from_numpy(np.stack([head_patch(image, box) for box in jittered_boxes(head)]))
        yaw, confidence = read_yaw(yaw_probabilities(load_head_yaw_net(), patches).mean(dim=0).numpy())
        note = f"head-yaw net: yaw {yaw:+.0f}, confidence {confidence:.2f}"
        try:
            side = profile_side(image, head)
        except MissingCapability as error:
            return RoughPose(yaw, 0.0, confidence, f"{note}; no profile cross-check ({one_line(error)})")
        if side:
            if abs(yaw - 90.0 * side) <= self.AGREE:
                note += f"; profile cascade agrees (face to image-{'left' if side > 0 else 'right'})"
            else:
                confidence /= 2
                note += (
                    f"; profile cascade disagrees (face to image-{'left' if side > 0 else 'right'}): confidence halved"
                )
        return RoughPose(yaw, 0.0, confidence, note)
