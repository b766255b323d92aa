"""How sure a model is of each row's answer, one number per row; higher means surer. The score a model uses is
chosen on the validation split: the one under which answering only the surest rows removes errors fastest (the
smallest area under the risk–coverage curve).

    top_probability     the largest probability after temperature scaling fitted on validation
    margin              the gap between the two largest (scaled) probabilities
    teacher_agreement   the student's only: sqrt(its top probability × the teachers' mean probability of its label);
                        low when the teachers disagree with the student, so it needs the teachers at serving time
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.decision.labels import severe_argmax
from toolkit.decision.risk_coverage import area_under_risk_coverage
from toolkit.errors import ConfigError
from toolkit.metrics.probabilistic import apply_temperature, fit_temperature

SCORES = ("top_probability", "margin", "teacher_agreement")
NEEDS_TEACHERS = ("teacher_agreement",)


@dataclass(frozen=True)
class Confidence:
    """A confidence score and the temperature its probabilities are scaled by."""

    score: str
    temperature: float = 1.0

    def __call__(self, probs: np.ndarray, teacher_probs: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Per-row confidence of `probs` (n, C); `teacher_probs` (each (n, C)) for `teacher_agreement`.

        >>> Confidence("margin")(np.array([[0.7, 0.2, 0.1]])).round(2).tolist()
        [0.5]
        """
        scaled = apply_temperature(np.asarray(probs, dtype=float), self.temperature)
        top_two = np.sort(scaled, axis=1)[:, -2:]
        if self.score == "top_probability":
            return top_two[:, 1]
        if self.score == "margin":
            return top_two[:, 1] - top_two[:, 0]
        if self.score == "teacher_agreement":
            if not teacher_probs:
                raise ValueError("the teacher_agreement score needs the teachers' probabilities")
            label = scaled.argmax(axis=1)
            backing = np.mean([p[np.arange(len(label)), label] for p in teacher_probs], axis=0)
            return np.sqrt(top_two[:, 1] * backing)
        raise ValueError(f"unknown confidence score {self.score!r}; allowed: {', '.join(SCORES)}")

    def to_dict(self) -> dict:
        return {"score": self.score, "temperature": self.temperature}

    @classmethod
    def from_dict(cls, data: dict) -> Confidence:
        return cls(str(data["score"]), float(data["temperature"]))


def choose_confidence(
    y_val: Sequence[int],
    probs_val: np.ndarray,
    candidates: Sequence[str],
    ordinal: bool,
    teacher_probs_val: Sequence[np.ndarray] | None = None,
) -> tuple[Confidence, dict[str, float]]:
    """The candidate score with the smallest area under the validation risk–coverage curve (ties: the earlier
    candidate, i.e. the cheaper one); returns it with every candidate's area."""
    y_val = np.asarray(y_val)
    temperature = fit_temperature(y_val, probs_val)
    predicted = severe_argmax(probs_val, ordinal)
    areas: dict[str, float] = {}
    for name in candidates:
        if name in NEEDS_TEACHERS and not teacher_probs_val:
            continue
        scores = Confidence(name, temperature)(probs_val, teacher_probs_val)
        areas[name] = round(area_under_risk_coverage(y_val, predicted, scores), 6)
    if not areas:
        raise ConfigError(
            f"deferral.scores: {list(candidates)} holds only scores that need the teachers at serving time, and "
            "they are not served here (a paid API teacher, or deferral.ensemble is false)",
            hint="add top_probability or margin to deferral.scores",
        )
    best = min(areas, key=lambda name: (areas[name], list(areas).index(name)))
    return Confidence(best, temperature), areas
