"""Per-class precision / recall / F1 / support, macro F1 and accuracy for one model's probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from toolkit.config import TargetSpec
from toolkit.data.scores import macro_f1


def ordinal_error_rates(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Under- and over-triage rates for labels ordered from least to most urgent, as shares of all cases.

    >>> ordinal_error_rates([2, 2, 1, 0], [1, 2, 2, 0])
    {'under_triage_rate': 0.25, 'over_triage_rate': 0.25}
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = max(len(y_true), 1)
    return {
        "under_triage_rate": float(np.sum(y_pred < y_true) / n),
        "over_triage_rate": float(np.sum(y_pred > y_true) / n),
    }


def quadratic_weighted_kappa(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Agreement on an ordinal scale, penalising a disagreement by the square of its distance (1 = perfect).

    >>> quadratic_weighted_kappa([0, 1, 2], [0, 1, 2], 3)
    1.0
    """
    return float(cohen_kappa_score(y_true, y_pred, labels=list(range(n_classes)), weights="quadratic"))


def classification_metrics(
    y_true: Sequence[int], probs: np.ndarray, label_names: Sequence[str], ordinal: bool = False
) -> dict:
    """Figures for argmax predictions of `probs` against `y_true` (label indices).

    >>> import numpy as np
    >>> m = classification_metrics([0, 1, 1], np.array([[.9, .1], [.2, .8], [.6, .4]]), ["a", "b"])
    >>> m["per_class"]["b"]["recall"], m["accuracy"]
    (0.5, 0.6666666666666666)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(probs).argmax(axis=1)
    indices = list(range(len(label_names)))
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=indices, zero_division=0)
    extra = ordinal_error_rates(y_true, y_pred) if ordinal else {}
    return {
        **extra,
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # averages run over the classes that occur (in truth or prediction): a label a data set never has, such as
        # `medium` in a two-class credit set, must not count as a class the model failed on
        "macro_f1": macro_f1(y_true, y_pred),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=indices).tolist(),
    }


def majority_probabilities(train_labels: Sequence[int], n_rows: int, n_classes: int) -> np.ndarray:
    """The majority-class baseline as one-hot probabilities: always predict the most frequent training label."""
    majority = int(np.bincount(np.asarray(train_labels), minlength=n_classes).argmax())
    probs = np.zeros((n_rows, n_classes))
    probs[:, majority] = 1.0
    return probs


def target_value(metrics: dict, target: TargetSpec) -> float:
    """The figure a target refers to, read from `classification_metrics` output."""
    if target.label is None:
        return float(metrics[target.metric])
    return float(metrics["per_class"][target.label][target.metric])


def check_targets(metrics: dict, targets: Sequence[TargetSpec]) -> list[dict]:
    """PASS / FAIL of each target at the model's default (argmax) decision."""
    results = []
    for target in targets:
        value = target_value(metrics, target)
        bound, limit = target.bound
        results.append(
            {
                "target": target.key,
                "bound": bound,
                "limit": limit,
                "value": value,
                "status": "PASS" if target.is_met(value) else "FAIL",
            }
        )
    return results
