"""The decision policy: per-class weights on the probabilities (argmax of p × w), tuned on the validation split so
that the pack's targets are met, e.g. `recall[emergent] >= 0.95` with as little over-triage as that allows; then
reported, untouched, on the test split."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.config import TargetSpec
from toolkit.decision.labels import severe_argmax
from toolkit.metrics.bootstrap import confusion, confusion_figures

WEIGHT_GRID = np.round(np.logspace(-1.5, 1.5, 13), 4)  # 0.03 ... 31.6, multiplicative
MAX_GRID_CLASSES = 4  # beyond this, coordinate search instead of the full grid


@dataclass(frozen=True)
class DecisionPolicy:
    """Predict argmax(p × weights); weights of 1 are the plain argmax. Ordinal ties go to the more severe level."""

    label_names: tuple[str, ...]
    weights: tuple[float, ...]
    ordinal: bool = False

    def predict(self, probs: np.ndarray) -> np.ndarray:
        return severe_argmax(probs * np.asarray(self.weights)[None, :], self.ordinal)

    def to_dict(self) -> dict:
        return {"weights": dict(zip(self.label_names, self.weights, strict=True))}


def _score(figures: dict[str, float], targets: Sequence[TargetSpec], weights: np.ndarray, primary: str) -> tuple:
    """Lexicographic: the targets in the pack's order of priority (meeting the first outweighs meeting all the
    others, e.g. the critical class's recall before precision), then the primary figure, then the smallest change
    from the plain argmax."""
    met = tuple(t.is_met(figures[t.key]) for t in targets)
    return (*met, figures[primary], -float(np.abs(np.log(weights)).sum()))


def tune_policy(
    y_true: Sequence[int],
    probs: np.ndarray,
    label_names: Sequence[str],
    targets: Sequence[TargetSpec],
    ordinal: bool = False,
    primary: str = "macro_f1",
) -> tuple[DecisionPolicy, dict]:
    """The weights that meet the targets on (y_true, probs) in their order of priority, then maximise `primary`;
    the first class keeps weight 1 (only ratios matter). Returns the policy and what it reached on these data."""
    y_true = np.asarray(y_true)
    n = len(label_names)

    def evaluate(weights: np.ndarray) -> tuple[tuple, dict]:
        predicted = severe_argmax(probs * weights[None, :], ordinal)
        figures = confusion_figures(confusion(y_true, predicted, n), label_names, ordinal)
        return _score(figures, targets, weights, primary), figures

    if n <= MAX_GRID_CLASSES:
        candidates = (np.array((1.0, *rest)) for rest in itertools.product(WEIGHT_GRID, repeat=n - 1))
        best_weights, (best_score, best_figures) = None, ((-1,), {})  # below any real score
        for weights in candidates:
            score, figures = evaluate(weights)
            if score > best_score:
                best_weights, best_score, best_figures = weights, score, figures
    else:  # coordinate search: each class's weight in turn, three rounds
        best_weights = np.ones(n)
        best_score, best_figures = evaluate(best_weights)
        for _ in range(3):
            for k in range(1, n):
                for value in WEIGHT_GRID:
                    trial = best_weights.copy()
                    trial[k] = value
                    score, figures = evaluate(trial)
                    if score > best_score:
                        best_weights, best_score, best_figures = trial, score, figures
    policy = DecisionPolicy(tuple(label_names), tuple(float(w) for w in best_weights), ordinal)
    met = sum(t.is_met(best_figures[t.key]) for t in targets)
    return policy, {"targets_met": met, "targets": len(targets), "figures": best_figures}
