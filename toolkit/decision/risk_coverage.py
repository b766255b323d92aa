"""Risk–coverage: answer only the rows a model is surest of, and see what the answered rows' risk becomes.

Coverage is the share of rows answered (the most confident first; rows of equal confidence count at their mean, as
if ties were broken at random). Risk is 1 − accuracy among them; for ordinal
packs also the under-triage rate among them, and, with a critical class, that class's recall among the answered
rows that truly belong to it (1.0 when none of them is answered: none was missed). Intervals resample the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COVERAGE_POINTS = tuple(round(c, 2) for c in np.linspace(0.1, 1.0, 19))  # 0.10, 0.15, ..., 1.00


def _tie_averaged(values: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """`values` in confidence order with each run of equal confidence replaced by its mean: the expected counts
    when ties are broken at random (a constant-confidence model gets a flat curve, not one shaped by row order)."""
    values, confidence = np.atleast_2d(values).astype(float), np.atleast_2d(confidence)
    starts = np.ones(confidence.shape, bool)
    starts[:, 1:] = confidence[:, 1:] != confidence[:, :-1]
    groups = np.cumsum(starts, axis=1) - 1 + np.arange(len(confidence))[:, None] * confidence.shape[1]
    flat = groups.ravel()
    sums = np.bincount(flat, weights=values.ravel(), minlength=flat.max() + 1)
    counts = np.bincount(flat, minlength=flat.max() + 1)
    return (sums / np.maximum(counts, 1))[groups]


def _cumulative(
    y: np.ndarray, predicted: np.ndarray, conf: np.ndarray, order: np.ndarray, ordinal: bool, critical: int | None
):
    """Running (tie-averaged) counts along rows taken most-confident first ((n,) or (B, n) index arrays)."""
    yy, pp, cc = y[order], predicted[order], conf[order]

    def running(values: np.ndarray) -> np.ndarray:
        out = np.cumsum(_tie_averaged(values, cc), axis=-1)
        return out if order.ndim == 2 else out[0]

    out = {"correct": running(yy == pp)}
    if ordinal:
        out["under"] = running(pp < yy)
    if critical is not None:
        out["critical"] = running(yy == critical)
        out["critical_hit"] = running((yy == critical) & (pp == critical))
    return out


def _figures_at(counts: dict[str, np.ndarray], k: np.ndarray) -> dict[str, np.ndarray]:
    index = k - 1
    out = {"risk": 1.0 - counts["correct"][..., index] / k}
    if "under" in counts:
        out["under_triage_rate"] = counts["under"][..., index] / k
    if "critical" in counts:
        found, hit = counts["critical"][..., index], counts["critical_hit"][..., index]
        out["critical_recall"] = np.divide(hit, found, out=np.ones_like(hit, dtype=float), where=found > 1e-9)
    return out


def risk_coverage_curve(
    y_true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float],
    ordinal: bool = False,
    critical: int | None = None,
    points: Sequence[float] = COVERAGE_POINTS,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """The curve at `points` of coverage, each figure with its bootstrap 95% interval, and the area under it.

    >>> curve = risk_coverage_curve([0, 1, 1, 0], [0, 1, 0, 0], [0.9, 0.8, 0.4, 0.7], points=[0.5, 1.0])
    >>> curve["risk"]
    [0.0, 0.25]
    """
    y, pred, conf = np.asarray(y_true), np.asarray(predicted), np.asarray(confidence, dtype=float)
    n = len(y)
    order = np.argsort(-conf, kind="stable")
    ks = np.maximum(1, np.ceil(np.asarray(points) * n).astype(int))
    point = _figures_at(_cumulative(y, pred, conf, order, ordinal, critical), ks)
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    resampled_order = np.take_along_axis(draws, np.argsort(rank[draws], axis=1, kind="stable"), axis=1)
    spread = _figures_at(_cumulative(y, pred, conf, resampled_order, ordinal, critical), ks)
    curve: dict = {"coverage": [float(p) for p in points], "rows": ks.tolist()}
    for name, values in point.items():
        curve[name] = [round(float(v), 4) for v in values]
        curve[f"{name}_low"] = [round(float(v), 4) for v in np.percentile(spread[name], 2.5, axis=0)]
        curve[f"{name}_high"] = [round(float(v), 4) for v in np.percentile(spread[name], 97.5, axis=0)]
    curve["aurc"] = round(area_under_risk_coverage(y, pred, conf), 4)
    return curve


def area_under_risk_coverage(y_true: Sequence[int], predicted: Sequence[int], confidence: Sequence[float]) -> float:
    """Mean risk over every coverage 1/n, 2/n, ..., 1 (smaller is better: errors sit among the unsure rows)."""
    y, pred, conf = np.asarray(y_true), np.asarray(predicted), np.asarray(confidence, dtype=float)
    order = np.argsort(-conf, kind="stable")
    errors = np.cumsum(_tie_averaged(y[order] != pred[order], conf[order])[0])
    return float(np.mean(errors / np.arange(1, len(y) + 1)))


def coverage_at_accuracy(
    y_true: Sequence[int], predicted: Sequence[int], confidence: Sequence[float], accuracy: float
) -> float:
    """The largest coverage at which accuracy among the answered rows is at least `accuracy` (0.0 if none).

    >>> coverage_at_accuracy([0, 1, 1, 0], [0, 1, 0, 0], [0.9, 0.8, 0.4, 0.7], accuracy=1.0)
    0.75
    """
    y, pred, conf = np.asarray(y_true), np.asarray(predicted), np.asarray(confidence, dtype=float)
    order = np.argsort(-conf, kind="stable")
    answered = np.arange(1, len(y) + 1)
    ok = np.cumsum(_tie_averaged(y[order] == pred[order], conf[order])[0]) / answered >= accuracy - 1e-9
    return float(answered[ok].max() / len(y)) if ok.any() else 0.0
