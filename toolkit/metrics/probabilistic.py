"""Figures that read the probabilities, not only the argmax: one-vs-rest PR-AUC / ROC-AUC, calibration (ECE,
Brier, the reliability curve) and temperature scaling fitted on validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import average_precision_score, roc_auc_score

EPSILON = 1e-12


def one_vs_rest_auc(y_true: Sequence[int], probs: np.ndarray, label_names: Sequence[str]) -> dict:
    """Per class PR-AUC (average precision) and ROC-AUC of that class against the rest; None for a class that is
    absent or the only one present (neither curve exists then). Macro averages over the classes that have one."""
    y_true = np.asarray(y_true)
    per_class = {}
    for k, name in enumerate(label_names):
        positive = y_true == k
        defined = 0 < positive.sum() < len(y_true)
        per_class[name] = {
            "pr_auc": float(average_precision_score(positive, probs[:, k])) if defined else None,
            "roc_auc": float(roc_auc_score(positive, probs[:, k])) if defined else None,
        }
    out: dict = {"per_class": per_class}
    for key in ("pr_auc", "roc_auc"):
        values = [c[key] for c in per_class.values() if c[key] is not None]
        out[f"macro_{key}"] = float(np.mean(values)) if values else None
    return out


def brier_score(y_true: Sequence[int], probs: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of the squared distance to the one-hot truth (0 best, 2 worst).

    >>> brier_score([0, 1], np.array([[1.0, 0.0], [0.5, 0.5]]))
    0.25
    """
    y_true = np.asarray(y_true)
    onehot = np.eye(probs.shape[1])[y_true]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def reliability(y_true: Sequence[int], probs: np.ndarray, bins: int = 10) -> dict:
    """Top-label calibration: per equal-width confidence bin, the mean confidence, the accuracy and the count; and
    the expected calibration error (ECE: the count-weighted mean gap between them)."""
    y_true = np.asarray(y_true)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        if n == 0:
            continue
        mean_conf, accuracy = float(confidence[members].mean()), float(correct[members].mean())
        ece += n / len(y_true) * abs(mean_conf - accuracy)
        curve.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "confidence": mean_conf,
                "accuracy": accuracy,
                "count": n,
            }
        )
    return {"ece": float(ece), "bins": curve}


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities as if their logits were divided by `temperature` (log-probabilities stand in)."""
    logits = np.log(np.clip(probs, EPSILON, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(y_true: Sequence[int], probs: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of `y_true` (fit on validation)."""
    y_true = np.asarray(y_true)

    def nll(log_t: float) -> float:
        scaled = apply_temperature(probs, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(scaled[np.arange(len(y_true)), y_true], EPSILON, 1.0))))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def calibration_metrics(y_true: Sequence[int], probs: np.ndarray, bins: int = 10) -> dict:
    curve = reliability(y_true, probs, bins)
    return {"ece": curve["ece"], "brier": brier_score(y_true, probs), "reliability": curve["bins"]}
