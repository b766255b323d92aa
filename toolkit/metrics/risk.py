"""Figures for a critical class scored by a probability, as risk teams read them: recall at a fixed precision or
alert budget, the KS statistic, Gini, and the expected cost of decisions under a cost matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve


def recall_at_precision(positive: Sequence[bool], score: np.ndarray, min_precision: float) -> dict:
    """The highest recall among thresholds whose precision is at least `min_precision`, and that threshold
    (recall 0 and threshold None when no threshold reaches it)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(positive), score)
    ok = np.flatnonzero(precision[:-1] >= min_precision)  # the last point (recall 0) has no threshold
    if len(ok) == 0:
        return {"recall": 0.0, "threshold": None, "precision": None}
    best = ok[np.argmax(recall[ok])]
    return {"recall": float(recall[best]), "threshold": float(thresholds[best]), "precision": float(precision[best])}


def recall_at_budget(positive: Sequence[bool], score: np.ndarray, budget: float) -> dict:
    """Recall when only the top `budget` share of cases (by score) can be reviewed, and the precision of those.

    >>> recall_at_budget([1, 0, 1, 0], np.array([0.9, 0.8, 0.1, 0.2]), 0.25)
    {'recall': 0.5, 'precision': 1.0, 'flagged': 1}
    """
    positive = np.asarray(positive, dtype=bool)
    flagged = int(np.floor(budget * len(positive) + 1e-9))
    top = np.argsort(-score, kind="stable")[:flagged]
    hits = int(positive[top].sum())
    return {
        "recall": hits / max(int(positive.sum()), 1),
        "precision": hits / flagged if flagged else 0.0,
        "flagged": flagged,
    }


def ks_statistic(positive: Sequence[bool], score: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the largest gap between the score distributions of positives and negatives."""
    fpr, tpr, _ = roc_curve(np.asarray(positive), score)
    return float(np.max(tpr - fpr))


def gini(positive: Sequence[bool], score: np.ndarray) -> float:
    """Gini coefficient (accuracy ratio) = 2 × ROC-AUC − 1."""
    return float(2.0 * roc_auc_score(np.asarray(positive), score) - 1.0)


def expected_cost(y_true: Sequence[int], y_pred: Sequence[int], cost_matrix: Sequence[Sequence[float]]) -> float:
    """Mean cost per case; `cost_matrix[true][predicted]`.

    >>> expected_cost([0, 1, 1], [0, 0, 1], [[0, 1], [10, 0]])
    3.3333333333333335
    """
    costs = np.asarray(cost_matrix, dtype=float)
    return float(costs[np.asarray(y_true), np.asarray(y_pred)].mean())
