"""Combine several teachers' probabilities into one soft target.

Each method is an `EnsembleRule` registered by name (`@register_ensemble("mean")`); every registered method is fitted
and reported side by side, and the pack's `ensemble.method` is the one the student learns from. The built-in four:
    mean        plain average
    weighted    weights fitted on the validation split by log-loss
    confidence  per sample, each teacher weighted by its own confidence (max probability) on that sample
    routing     "dynamic distillation": easy inputs (the cheap teachers agree and are sure) take the cheap
                teachers' answer, hard ones the strong teachers' weighted answer; the threshold is fitted on
                validation by log-loss.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, TypeVar

import numpy as np
from scipy.optimize import minimize

from toolkit.registry import ENSEMBLE_METHODS

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


@dataclass(frozen=True)
class EnsembleInputs:
    """What a method is fitted on: each teacher's validation probabilities (teacher order), the gold labels, the
    indices of the cheap teachers (routing) and the confidence sharpness (`ensemble.sharpness`)."""

    validation: Sequence[np.ndarray]
    y: Sequence[int]
    cheap: list[int]
    sharpness: float = 2.0

    @cached_property
    def weights(self) -> np.ndarray:
        """Log-loss weights of the teachers, fitted once and shared by the methods that use them."""
        return fit_weights(self.validation, self.y)


class EnsembleRule(ABC):
    """One ensemble method with what it fitted on validation, applicable to any new inputs' teacher outputs."""

    method: ClassVar[str] = ""  # set by @register_ensemble
    role: ClassVar[str] = ""  # how the report names it, e.g. "weights fitted on validation"

    @classmethod
    @abstractmethod
    def fit(cls, inputs: EnsembleInputs) -> EnsembleRule:
        """The rule fitted on the teachers' validation probabilities."""

    @abstractmethod
    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """The ensemble's (n, C) probabilities from each teacher's (n, C) probabilities, in teacher order."""

    def details(self, teachers: Sequence[str], probabilities: dict[str, list[np.ndarray]]) -> dict:
        """What the teachers stage's summary records about the fit; `probabilities` are per split, teacher order."""
        return {}


RuleClass = TypeVar("RuleClass", bound=type[EnsembleRule])


def register_ensemble(method: str, role: str) -> Callable[[RuleClass], RuleClass]:
    """Register an `EnsembleRule` subclass as the ensemble method `method` (`ensemble.method` in a pack).

    >>> @register_ensemble("median", role="per-class median")  # doctest: +SKIP
    ... class MedianRule(EnsembleRule): ...
    """

    def decorate(cls: RuleClass) -> RuleClass:
        if not (isinstance(cls, type) and issubclass(cls, EnsembleRule)):
            raise TypeError(f"ensemble method {method!r}: {cls!r} must subclass EnsembleRule")
        cls.method, cls.role = method, role
        return ENSEMBLE_METHODS.register(method)(cls)

    return decorate


def ensemble_roles() -> dict[str, str]:
    """Every registered method with how the report names it, in fitting order."""
    return {method: rule.role for method, rule in ENSEMBLE_METHODS.load_all().items()}


@register_ensemble("mean", role="mean")
@dataclass
class MeanRule(EnsembleRule):
    @classmethod
    def fit(cls, inputs: EnsembleInputs) -> MeanRule:
        return cls()

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        return average_probabilities(probabilities)


@register_ensemble("weighted", role="weights fitted on validation")
@dataclass
class WeightedRule(EnsembleRule):
    weights: np.ndarray

    @classmethod
    def fit(cls, inputs: EnsembleInputs) -> WeightedRule:
        return cls(weights=inputs.weights)

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        return average_probabilities(probabilities, self.weights)

    def details(self, teachers: Sequence[str], probabilities: dict[str, list[np.ndarray]]) -> dict:
        return {"weights": _named(teachers, self.weights)}


@register_ensemble("confidence", role="per-sample confidence")
@dataclass
class ConfidenceRule(EnsembleRule):
    weights: np.ndarray
    sharpness: float = 2.0

    @classmethod
    def fit(cls, inputs: EnsembleInputs) -> ConfidenceRule:
        return cls(weights=inputs.weights, sharpness=inputs.sharpness)

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        return confidence_weighted(probabilities, self.weights, self.sharpness)

    def details(self, teachers: Sequence[str], probabilities: dict[str, list[np.ndarray]]) -> dict:
        return {"base_weights": _named(teachers, self.weights), "sharpness": self.sharpness}


@register_ensemble("routing", role="routed by difficulty")
@dataclass
class RoutingRule(EnsembleRule):
    routing: Routing

    @classmethod
    def fit(cls, inputs: EnsembleInputs) -> RoutingRule:
        return cls(routing=fit_routing(inputs.validation, inputs.y, inputs.cheap))

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        return self.routing.apply(probabilities)[0]

    def details(self, teachers: Sequence[str], probabilities: dict[str, list[np.ndarray]]) -> dict:
        routing = self.routing
        return {
            "cheap": [teachers[i] for i in routing.cheap],
            "strong": [teachers[i] for i in routing.strong],
            "threshold": round(routing.threshold, 4),
            "hard_share_validation": round(routing.hard_share, 4),
            "hard_share_train": round(float(routing.apply(probabilities["train"])[1].mean()), 4),
        }


def _named(teachers: Sequence[str], weights: np.ndarray) -> dict[str, float]:
    return {name: round(float(w), 4) for name, w in zip(teachers, weights, strict=True)}


def fit_ensemble_rules(
    validation: Sequence[np.ndarray], y: Sequence[int], cheap: list[int], sharpness: float
) -> dict[str, EnsembleRule]:
    """Every registered ensemble method fitted on the teachers' validation probabilities, by method name."""
    inputs = EnsembleInputs(validation, y, cheap, sharpness)
    return {method: rule.fit(inputs) for method, rule in ENSEMBLE_METHODS.load_all().items()}
