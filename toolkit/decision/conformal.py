"""Class-conditional split conformal label sets (Mondrian conformal prediction), calibrated on validation.

The nonconformity of a row for class k is 1 − p_k. For each class k, q_k is the ⌈(n_k + 1)(1 − α_k)⌉-th smallest
nonconformity among the n_k calibration rows of class k, and a row's set is {k : 1 − p_k ≤ q_k}. Then, for a new
row exchangeable with the calibration rows, P(k ∈ set | true class k) ≥ 1 − α_k for every class on its own: the
critical class gets its own guarantee instead of borrowing it from the common classes. With too few calibration
rows of a class for its α (fewer than 1/α_k − 1), q_k is 1: that class is in every set, and the result says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelSets:
    """Per-class thresholds on 1 − p_k; `too_few` names the classes whose calibration rows could not support
    their α (they are in every set)."""

    label_names: tuple[str, ...]
    alphas: tuple[float, ...]
    thresholds: tuple[float, ...]
    calibration_rows: tuple[int, ...]

    def sets(self, probs: np.ndarray) -> np.ndarray:
        """(n, C) booleans: which classes each row's set holds.

        >>> s = LabelSets(("a", "b"), (0.1, 0.1), (0.5, 0.2), (20, 20))
        >>> s.sets(np.array([[0.6, 0.4]])).tolist()
        [[True, False]]
        """
        return (1.0 - np.asarray(probs)) <= np.asarray(self.thresholds)[None, :] + 1e-12

    @property
    def too_few(self) -> list[str]:
        return [name for name, t, a, n in self._rows() if t >= 1.0 and n < needed_rows(a)]

    def _rows(self):
        return zip(self.label_names, self.thresholds, self.alphas, self.calibration_rows, strict=True)

    def to_dict(self) -> dict:
        return {name: {"alpha": a, "threshold": t, "calibration_rows": n} for name, t, a, n in self._rows()}

    @classmethod
    def from_dict(cls, data: dict) -> LabelSets:
        names = tuple(data)
        return cls(
            names,
            tuple(float(data[k]["alpha"]) for k in names),
            tuple(float(data[k]["threshold"]) for k in names),
            tuple(int(data[k]["calibration_rows"]) for k in names),
        )


def needed_rows(alpha: float) -> int:
    """Calibration rows of a class below which its threshold is 1 (the class in every set)."""
    return int(np.ceil(1.0 / alpha - 1.0 - 1e-9))


def fit_label_sets(
    y_cal: Sequence[int], probs_cal: np.ndarray, label_names: Sequence[str], alphas: Sequence[float]
) -> LabelSets:
    """Per-class thresholds from calibration rows (the validation split); `alphas` per class."""
    y, probs = np.asarray(y_cal), np.asarray(probs_cal, dtype=float)
    thresholds, counts = [], []
    for k, alpha in enumerate(alphas):
        scores = np.sort(1.0 - probs[y == k, k])
        n = len(scores)
        rank = int(np.ceil((n + 1) * (1.0 - alpha)))
        thresholds.append(float(scores[rank - 1]) if 1 <= rank <= n else 1.0)
        counts.append(n)
    return LabelSets(tuple(label_names), tuple(float(a) for a in alphas), tuple(thresholds), tuple(counts))


def class_alphas(label_names: Sequence[str], alpha: float, critical: str | None, critical_alpha: float | None):
    """Every class's α: the common one, and the critical class's own where the pack sets one."""
    return [critical_alpha if name == critical and critical_alpha is not None else alpha for name in label_names]


def set_coverage(y_true: Sequence[int], sets: np.ndarray, label_names: Sequence[str]) -> dict[str, float | None]:
    """Share of rows whose set holds the true label: overall and per class (None for a class absent here)."""
    y = np.asarray(y_true)
    held = sets[np.arange(len(y)), y]
    out: dict[str, float | None] = {"all": float(held.mean()) if len(y) else None}
    for k, name in enumerate(label_names):
        mask = y == k
        out[name] = float(held[mask].mean()) if mask.any() else None
    out["mean_set_size"] = float(sets.sum(axis=1).mean()) if len(y) else None
    return out
