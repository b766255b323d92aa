"""Combine several teachers' probabilities into one soft target.

Four ways, all reported side by side:
    mean        plain average
    weighted    weights fitted on the validation split by log-loss
    confidence  per sample, each teacher weighted by its own confidence (max probability) on that sample
    routing     "dynamic distillation": easy inputs (the cheap teachers agree and are sure) take the cheap
                teachers' answer, hard ones the strong teachers' weighted answer; the threshold is fitted on
                validation by log-loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

EPSILON = 1e-9


def _normalise(p: np.ndarray) -> np.ndarray:
    return p / p.sum(axis=1, keepdims=True)


def log_loss(y: Sequence[int], probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    y = np.asarray(y)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], EPSILON, 1.0))))


def average_probabilities(probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of (n, C) probability arrays, renormalised per row.

    >>> import numpy as np
    >>> average_probabilities([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])]).tolist()
    [[0.5, 0.5]]
    """
    if not probabilities:
        raise ValueError("at least one teacher's probabilities are needed")
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"teachers disagree on shape: {sorted(shapes)}")
    w = np.ones(len(probabilities)) if weights is None else np.asarray(weights, dtype=float)
    return _normalise(np.tensordot(w / w.sum(), np.stack(probabilities), axes=1))


def fit_weights(probabilities: Sequence[np.ndarray], y: Sequence[int]) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the log-loss of the weighted mean on (probabilities, y)."""
    stacked = np.stack(probabilities)

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        return log_loss(y, _normalise(np.tensordot(w / w.sum(), stacked, axes=1)))

    result = minimize(
        loss,
        np.zeros(len(probabilities)),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000},
    )
    w = np.exp(result.x - result.x.max())
    return w / w.sum()


def confidence_weighted(
    probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None, sharpness: float = 2.0
) -> np.ndarray:
    """Per sample, each teacher's weight times its confidence (max probability) to the power `sharpness`."""
    stacked = np.stack(probabilities)  # (T, n, C)
    base = np.ones(len(probabilities)) if weights is None else np.asarray(weights, dtype=float)
    per_sample = base[:, None] * stacked.max(axis=2) ** sharpness  # (T, n)
    per_sample /= per_sample.sum(axis=0, keepdims=True)
    return _normalise(np.einsum("tn,tnc->nc", per_sample, stacked))


def difficulty(cheap: Sequence[np.ndarray]) -> np.ndarray:
    """1 − confidence of the cheap teachers' mean, plus their disagreement (total variation from the mean)."""
    stacked = np.stack(cheap)
    mean = stacked.mean(axis=0)
    disagreement = 0.5 * np.abs(stacked - mean).sum(axis=2).mean(axis=0)
    return 1.0 - mean.max(axis=1) + disagreement


@dataclass
class Routing:
    """Which teachers are cheap, the threshold above which an input counts as hard, and the strong weights."""

    cheap: list[int]
    strong: list[int]
    threshold: float = 0.5
    strong_weights: np.ndarray | None = None
    hard_share: float = field(default=0.0)

    def apply(self, probabilities: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Routed probabilities and the mask of inputs sent to the strong teachers."""
        cheap = [probabilities[i] for i in self.cheap]
        strong = average_probabilities([probabilities[i] for i in self.strong], self.strong_weights)
        hard = difficulty(cheap) > self.threshold
        return np.where(hard[:, None], strong, average_probabilities(cheap)), hard


def fit_routing(probabilities: Sequence[np.ndarray], y: Sequence[int], cheap: list[int]) -> Routing:
    """Choose the difficulty threshold (among quantiles) that minimises validation log-loss."""
    strong = [i for i in range(len(probabilities)) if i not in cheap] or list(range(len(probabilities)))
    cheap = cheap or strong
    routing = Routing(
        cheap=cheap,
        strong=strong,
        strong_weights=fit_weights([probabilities[i] for i in strong], y) if len(strong) > 1 else None,
    )
    scores = difficulty([probabilities[i] for i in cheap])
    best = (float("inf"), 0.0)
    # -inf sends every input to the strong teachers; the largest quantile keeps every input with the cheap ones
    for threshold in [-np.inf, *np.unique(np.quantile(scores, np.linspace(0.0, 1.0, 21)))]:
        routing.threshold = float(threshold)
        best = min(best, (log_loss(y, routing.apply(probabilities)[0]), float(threshold)))
    routing.threshold = best[1]
    routing.hard_share = float(routing.apply(probabilities)[1].mean())
    return routing


ENSEMBLE_METHODS = ("mean", "weighted", "confidence", "routing")


@dataclass
class EnsembleRule:
    """One ensemble method with what it fitted on validation, applicable to any new inputs' teacher outputs."""

    method: str
    weights: np.ndarray | None = None
    sharpness: float = 2.0
    routing: Routing | None = None

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """The ensemble's (n, C) probabilities from each teacher's (n, C) probabilities, in teacher order."""
        if self.method == "mean":
            return average_probabilities(probabilities)
        if self.method == "weighted":
            return average_probabilities(probabilities, self.weights)
        if self.method == "confidence":
            return confidence_weighted(probabilities, self.weights, self.sharpness)
        return self.routing.apply(probabilities)[0]


def fit_ensemble_rules(
    validation: Sequence[np.ndarray], y: Sequence[int], cheap: list[int], sharpness: float
) -> dict[str, EnsembleRule]:
    """Every ensemble method fitted on the teachers' validation probabilities."""
    weights = fit_weights(validation, y)
    return {
        "mean": EnsembleRule("mean"),
        "weighted": EnsembleRule("weighted", weights=weights),
        "confidence": EnsembleRule("confidence", weights=weights, sharpness=sharpness),
        "routing": EnsembleRule("routing", routing=fit_routing(validation, y, cheap)),
    }
