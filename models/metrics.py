"""Held-out metrics from predictions: semseg mIoU, depth RMSE and the delta < 1.25 accuracy.

mIoU: per class, IoU = TP / (TP + FP + FN) over the whole split (one confusion matrix summed over all pixels of
all scenes, as Cityscapes and NYUD report it), averaged over the classes that appear in the ground truth or the
predictions (a class absent from both has no IoU). Depth: RMSE in metres over all pixels; delta1 is the fraction
of pixels with max(pred/gt, gt/pred) < 1.25, predictions clamped to at least MIN_PRED metres first (a
non-positive prediction is then far off, never a division by zero).
"""

from __future__ import annotations

import numpy as np

MIN_PRED = 1e-3


def confusion(pred: np.ndarray, gt: np.ndarray, classes: int) -> np.ndarray:
    """[classes, classes] counts, rows = ground truth, columns = prediction."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} pixels, ground truth {gt.size}")
    if gt.min(initial=0) < 0 or gt.max(initial=0) >= classes or pred.min(initial=0) < 0 or pred.max(initial=0) >= classes:
        raise ValueError(f"labels must lie in 0..{classes - 1}")
    return np.bincount(gt * classes + pred, minlength=classes * classes).reshape(classes, classes)


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """IoU per class (nan for a class absent from both prediction and ground truth)."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def miou(conf: np.ndarray) -> float:
    return float(np.nanmean(iou_per_class(conf)))


def depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """{'rmse': metres, 'delta1': fraction with max ratio < 1.25, 'absrel': mean |p - g| / g}; gt must be > 0."""
    p = np.asarray(pred, np.float64).ravel()
    g = np.asarray(gt, np.float64).ravel()
    if p.shape != g.shape:
        raise ValueError(f"prediction has {p.size} pixels, ground truth {g.size}")
    if (g <= 0).any():
        raise ValueError("ground-truth depth must be positive")
    pc = np.maximum(p, MIN_PRED)
    ratio = np.maximum(pc / g, g / pc)
    return {"rmse": float(np.sqrt(np.mean((p - g) ** 2))), "delta1": float(np.mean(ratio < 1.25)),
            "absrel": float(np.mean(np.abs(p - g) / g))}
