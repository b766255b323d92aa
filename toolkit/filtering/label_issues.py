"""Likely label errors in the user's labeled data, found the confident-learning way.

A class's threshold is the teachers' average probability for that class over the rows labeled with it. A row is
flagged when the classes whose probability reaches their threshold point, at their most probable, to a class other
than its gold label. Probabilities must be out of sample for a row (out-of-fold for teachers trained on it), or
a teacher that memorised a wrong label will never contradict it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def refit_folds(folds: int, train_rows: int, max_refit_rows: int | None) -> int:
    """How many out-of-fold refits a cheap teacher gets: `folds`, fewer on large data (at least 2) so that the
    refits together train on at most `max_refit_rows` rows; each row's probability stays out of sample.

    >>> refit_folds(5, 1_680, 40_000), refit_folds(5, 14_000, 40_000), refit_folds(5, 70_000, 40_000)
    (5, 3, 2)
    """
    if not max_refit_rows:
        return folds
    return max(2, min(folds, 1 + max_refit_rows // max(1, train_rows)))


def class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per class, the mean probability of that class over the rows labeled with it (1.0 for absent classes)."""
    return np.array(
        [probs[labels == k, k].mean() if np.any(labels == k) else 1.0 for k in range(probs.shape[1])], dtype=float
    )


def find_label_issues(labels: np.ndarray, probs: np.ndarray, label_names: Sequence[str]) -> pd.DataFrame:
    """One row per flagged position: given and suggested label, their probabilities, and the margin between them;
    most doubtful first (lowest probability of the given label)."""
    labels = np.asarray(labels)
    thresholds = class_thresholds(labels, probs)
    confident = np.where(probs >= thresholds[None, :], probs, -1.0)
    suggested = confident.argmax(axis=1)
    any_confident = confident.max(axis=1) >= 0
    flagged = np.flatnonzero(any_confident & (suggested != labels))
    given_p = probs[flagged, labels[flagged]]
    suggested_p = probs[flagged, suggested[flagged]]
    frame = pd.DataFrame(
        {
            "position": flagged,
            "given_label": [label_names[k] for k in labels[flagged]],
            "suggested_label": [label_names[k] for k in suggested[flagged]],
            "given_probability": np.round(given_p, 4),
            "suggested_probability": np.round(suggested_p, 4),
            "margin": np.round(suggested_p - given_p, 4),
        }
    )
    return frame.sort_values("given_probability", kind="stable").reset_index(drop=True)
