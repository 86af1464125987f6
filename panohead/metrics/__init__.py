"""Evaluation metrics: the paper's protocol (FID/IS/KID all, front, back; segmentation MSE; identity)
and weight-free 360-degree measures (mirrored-face score, multi-view consistency, mask error).

Functions meant to be imported by training and ablation code keep stable signatures:
``mirrored_face_score(generator, seeds, ...)`` and ``mask_error(generator, dataset, ...)``.
"""

from panohead.metrics.masks import mask_error, segmentation_mse
from panohead.metrics.mirror import mirror_similarity, mirrored_face_score, mirrored_face_scores

__all__ = ["mask_error", "mirror_similarity", "mirrored_face_score", "mirrored_face_scores", "segmentation_mse"]
