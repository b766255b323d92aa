"""Bootstrap 95% confidence intervals for the headline figures, computed from resampled confusion matrices (fast
enough to give every model in a run its intervals)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_figures(cm: np.ndarray, label_names: Sequence[str], ordinal: bool = False) -> dict[str, float]:
    """Accuracy, macro F1 (over the classes that occur in truth or prediction), per-class `recall[x]`,
    `precision[x]`, `f1[x]` and, for ordinal labels, under- / over-triage rates, from one confusion matrix (true
    rows). Keys are those of the pack's targets (`TargetSpec.key`)."""
    n = cm.sum()
    tp = np.diag(cm).astype(float)
    truth, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, truth, out=np.zeros_like(tp), where=truth > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    present = (truth + predicted) > 0
    out = {"accuracy": float(tp.sum() / n), "macro_f1": float(f1[present].mean())}
    for k, name in enumerate(label_names):
        out[f"recall[{name}]"], out[f"precision[{name}]"], out[f"f1[{name}]"] = recall[k], precision[k], f1[k]
    if ordinal:
        out["under_triage_rate"] = float(np.tril(cm, -1).sum() / n)  # predicted below the true level
        out["over_triage_rate"] = float(np.triu(cm, 1).sum() / n)
    return {key: float(value) for key, value in out.items()}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def bootstrap_intervals(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    label_names: Sequence[str],
    ordinal: bool = False,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Percentile intervals of `confusion_figures` over `resamples` bootstrap resamples of the rows."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n_classes = len(label_names)
    draws = np.random.default_rng(seed).integers(0, len(y_true), size=(resamples, len(y_true)))
    samples: dict[str, list[float]] = {}
    for rows in draws:
        for key, value in confusion_figures(
            confusion(y_true[rows], y_pred[rows], n_classes), label_names, ordinal
        ).items():
            samples.setdefault(key, []).append(value)
    tail = (1.0 - level) / 2 * 100
    return {
        key: {"low": float(np.percentile(values, tail)), "high": float(np.percentile(values, 100 - tail))}
        for key, values in samples.items()
    }


def paired_difference(
    y_true: Sequence[int],
    pred_a: Sequence[int],
    pred_b: Sequence[int],
    label_names: Sequence[str],
    figure: str = "macro_f1",
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """`figure` of a minus that of b on the same rows, with a percentile interval from resampling the rows once
    for both (paired: the rows' difficulty cancels out).

    >>> d = paired_difference([0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 1, 0], ["a", "b"])
    >>> round(d["difference"], 3), d["low"] <= d["difference"] <= d["high"]
    (0.267, True)
    """
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    n_classes = len(label_names)

    def value(rows: np.ndarray, predicted: np.ndarray) -> float:
        return confusion_figures(confusion(y_true[rows], predicted[rows], n_classes), label_names)[figure]

    every = np.arange(len(y_true))
    draws = np.random.default_rng(seed).integers(0, len(y_true), size=(resamples, len(y_true)))
    samples = [value(rows, pred_a) - value(rows, pred_b) for rows in draws]
    tail = (1.0 - level) / 2 * 100
    return {
        "difference": value(every, pred_a) - value(every, pred_b),
        "low": float(np.percentile(samples, tail)),
        "high": float(np.percentile(samples, 100 - tail)),
    }
