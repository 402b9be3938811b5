"""Evaluation with the official VadCLIP / AVadCLIP metric code's semantics: exactly ``avad eval``.

- :func:`evaluate` — the whole ``avad eval`` (frame AP, ROC-AUC, PR-AUC, XD-Violence mAP@IoU 0.1-0.5) from a folder
  of ``<video>.npy`` score files or from a dict of numpy arrays, against a test list and an annotation file;
- :func:`average_precision`, :func:`roc_auc`, :func:`pr_auc` — the frame-level metrics on flat arrays
  (sklearn's ``average_precision_score`` / ``roc_auc_score`` and XD-Violence's trapezoid PR-AUC);
- :func:`anomaly_scores`, :func:`frame_scores` — the per-snippet and per-frame anomaly scores ``avad eval`` derives
  from class probabilities.

The official code's quirks are kept by default and offered as options: mAP is 0 at every IoU when any class has
no predicted segment (``skip_empty_classes=True`` averages over the classes that have some instead), and list /
annotation mismatches are errors (``lenient=True`` turns them into notes).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from ._avad import metrics as _native

__all__ = [
    "anomaly_scores",
    "average_precision",
    "evaluate",
    "frame_scores",
    "pr_auc",
    "roc_auc",
]

PathLike = Union[str, "os.PathLike[str]"]


def evaluate(
    scores: Union[PathLike, Mapping[str, Any]],
    list: PathLike,  # noqa: A002 - the CLI's flag name
    annotations: PathLike,
    frame_annotations: Optional[PathLike] = None,
    *,
    snippet_frames: int = 16,
    classes: str = "xd",
    lenient: bool = False,
    skip_empty_classes: bool = False,
) -> Dict[str, Any]:
    """``avad eval``: frame AP, ROC-AUC, PR-AUC and XD-Violence mAP@IoU of per-snippet scores.

    Args:
        scores: a folder of ``<video>.npy`` files (what ``avad predict`` writes), or a dict video name -> array:
            [T, C] class probabilities (column 0 = normal; the anomaly score is 1 - p0, computed in float32) or
            [T] anomaly scores (mAP is then skipped with a note).
        list: the test list CSV; its videos are scored, in its order (``<video>`` = the path's file name without
            ``__<crop>.npy``).
        annotations: ``annotations_multiclasses.txt`` (gives mAP) or ``annotations.txt`` (binary).
        frame_annotations: take the frame labels from this file instead (the official XD-Violence protocol:
            frame labels from ``annotations.txt``, mAP segments from ``annotations_multiclasses.txt``).
        snippet_frames: frames per snippet used to expand scores and ground truth (16; 4 for CCTV-Fights).
        classes: label map, ``xd`` (7 classes), ``ucf`` (14) or ``cctv`` (2).
        lenient: report list/annotation mismatches as notes instead of failing.
        skip_empty_classes: mAP over the classes that have predictions, instead of the official rule.

    Returns:
        The JSON object of ``avad eval --json``: ``ap``, ``auc``, ``pr_auc`` (fractions), ``map`` (IoU ->
        mAP, or None), ``map_avg``, ``per_class_ap``, ``classes_without_prediction``, ``videos``, ``frames``,
        ``notes``.

    Raises:
        AvadError: a missing or malformed score, list or annotation file (the message names it).
    """
    return _native.evaluate(
        scores,
        list,
        annotations,
        frame_annotations,
        snippet_frames=snippet_frames,
        classes=classes,
        lenient=lenient,
        skip_empty_classes=skip_empty_classes,
    )


def average_precision(labels: Any, scores: Any) -> float:
    """Average precision (sklearn ``average_precision_score``) of ``scores`` against 0/1 ``labels`` (flat)."""
    return _native.average_precision(labels, scores)


def roc_auc(labels: Any, scores: Any) -> float:
    """ROC-AUC (sklearn ``roc_auc_score``) of ``scores`` against 0/1 ``labels`` (flat)."""
    return _native.roc_auc(labels, scores)


def pr_auc(labels: Any, scores: Any) -> float:
    """XD-Violence's PR-AUC (trapezoid area under ``precision_recall_curve``) of ``scores`` against ``labels``."""
    return _native.pr_auc(labels, scores)


def anomaly_scores(scores: Any) -> np.ndarray:
    """Per-snippet anomaly scores as ``avad eval`` reads a score array: ``1 - p0`` in float32 for [T, C] class
    probabilities, the values themselves for [T]."""
    a = np.asarray(scores, dtype=np.float32)
    if a.ndim == 1:
        return a.copy()
    if a.ndim != 2:
        raise ValueError(f"scores must be [T, C] or [T], got shape {a.shape}")
    return np.float32(1.0) - a[:, 0]


def frame_scores(scores: Any, snippet_frames: int = 16) -> np.ndarray:
    """Per-frame anomaly scores (float64) as ``avad eval`` and the official test scripts expand them: each
    snippet's score repeated ``snippet_frames`` times."""
    if snippet_frames < 1:
        raise ValueError("snippet_frames must be at least 1")
    return np.repeat(anomaly_scores(scores).astype(np.float64), snippet_frames)
