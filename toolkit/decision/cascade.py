"""The cascade: the student answers where its confidence ≥ τ₁; otherwise the teacher ensemble answers where it can
run at serving time and its confidence ≥ τ₂; otherwise a person does (`refer`). Conformal label sets and the
scope check come on top: an answer below the critical level whose label set holds that level is escalated or
referred (as the pack says), and an input unlike the training data is referred whatever the confidence.

τ₁ and τ₂ are tuned on the validation split for the largest coverage at which the pack's deferral targets hold
among the answered rows; the test split only reports. Referring every case always meets them, so the tuning never
fails silently: when nothing better does, the result says that the cascade refers every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from toolkit.config import TargetSpec
from toolkit.decision.confidence import Confidence
from toolkit.decision.conformal import LabelSets
from toolkit.decision.labels import severe_argmax
from toolkit.metrics.bootstrap import confusion, confusion_figures

REFER = -1
THRESHOLD_GRID = 41  # quantiles of each model's validation confidence tried as τ


@dataclass(frozen=True)
class Decisions:
    """Per row: the label index (REFER for a person), why, who answered, and the answering model's label set."""

    labels: np.ndarray
    reasons: np.ndarray  # "confident" | "low_confidence" | "label_set" | "out_of_scope"
    answered_by: np.ndarray  # "student" | "ensemble" | "person"
    label_sets: np.ndarray  # (n, C) booleans

    @property
    def answered(self) -> np.ndarray:
        return self.labels != REFER


@dataclass(frozen=True)
class Cascade:
    """Thresholds and rules, as tuned on validation; `decide` applies them to probabilities."""

    label_names: tuple[str, ...]
    ordinal: bool
    student: Confidence
    student_threshold: float = float("inf")  # τ₁; inf: the student never answers
    ensemble: Confidence | None = None
    ensemble_threshold: float = float("inf")  # τ₂; inf: the ensemble never answers
    student_sets: LabelSets | None = None
    ensemble_sets: LabelSets | None = None
    critical: int | None = None
    critical_in_set: str = "ignore"  # escalate | refer | ignore

    @property
    def uses_ensemble(self) -> bool:
        return self.ensemble is not None and np.isfinite(self.ensemble_threshold)

    def decide(
        self,
        student_probs: np.ndarray,
        ensemble_probs: np.ndarray | None = None,
        teacher_probs: Sequence[np.ndarray] | None = None,
        out_of_scope: Sequence[bool] | None = None,
    ) -> Decisions:
        """Route every row. `ensemble_probs` is read only on rows the student leaves (other rows may hold anything);
        `teacher_probs` only when the student's score is `teacher_agreement`.

        >>> c = Cascade(("a", "b"), False, Confidence("top_probability"), student_threshold=0.8)
        >>> c.decide(np.array([[0.9, 0.1], [0.6, 0.4]])).labels.tolist()
        [0, -1]
        """
        s_conf = self.student(student_probs, teacher_probs)
        e_conf = self.ensemble(ensemble_probs) if self.uses_ensemble and ensemble_probs is not None else None
        return self._route(
            severe_argmax(student_probs, self.ordinal),
            s_conf,
            None if e_conf is None else severe_argmax(ensemble_probs, self.ordinal),
            e_conf,
            self._sets(self.student_sets, student_probs),
            None if e_conf is None else self._sets(self.ensemble_sets, ensemble_probs),
            np.zeros(len(s_conf), bool) if out_of_scope is None else np.asarray(out_of_scope, bool),
        )

    def _sets(self, sets: LabelSets | None, probs: np.ndarray) -> np.ndarray:
        return np.ones(probs.shape, bool) if sets is None else sets.sets(probs)

    def _route(self, s_label, s_conf, e_label, e_conf, s_sets, e_sets, out_of_scope) -> Decisions:
        n = len(s_label)
        labels = np.full(n, REFER)
        reasons = np.full(n, "low_confidence", dtype=object)
        by = np.full(n, "person", dtype=object)
        sets = s_sets.copy()
        student = s_conf >= self.student_threshold
        labels[student], reasons[student], by[student] = s_label[student], "confident", "student"
        if e_conf is not None:
            ensemble = ~student & (e_conf >= self.ensemble_threshold)
            labels[ensemble], reasons[ensemble], by[ensemble] = e_label[ensemble], "confident", "ensemble"
            sets[ensemble] = e_sets[ensemble]
        if self.critical is not None and self.critical_in_set != "ignore":
            flagged = (labels != REFER) & (labels != self.critical) & sets[:, self.critical]
            reasons[flagged] = "label_set"
            if self.critical_in_set == "escalate":
                labels[flagged] = self.critical
            else:
                labels[flagged], by[flagged] = REFER, "person"
        labels[out_of_scope], reasons[out_of_scope], by[out_of_scope] = REFER, "out_of_scope", "person"
        return Decisions(labels, reasons, by, sets)

    def to_dict(self) -> dict:
        def finite(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None  # JSON has no infinity: None means "never answers"

        return {
            "student": {**self.student.to_dict(), "threshold": finite(self.student_threshold)},
            "ensemble": None
            if self.ensemble is None
            else {**self.ensemble.to_dict(), "threshold": finite(self.ensemble_threshold)},
            "label_sets": {
                "student": None if self.student_sets is None else self.student_sets.to_dict(),
                "ensemble": None if self.ensemble_sets is None else self.ensemble_sets.to_dict(),
                "critical": None if self.critical is None else self.label_names[self.critical],
                "critical_in_set": self.critical_in_set,
            },
            "ordinal": self.ordinal,
            "labels": list(self.label_names),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Cascade:
        def threshold(x: float | None) -> float:
            return float("inf") if x is None else float(x)

        names = tuple(data["labels"])
        sets, ensemble = data["label_sets"], data["ensemble"]
        return cls(
            names,
            bool(data["ordinal"]),
            Confidence.from_dict(data["student"]),
            threshold(data["student"]["threshold"]),
            None if ensemble is None else Confidence.from_dict(ensemble),
            float("inf") if ensemble is None else threshold(ensemble["threshold"]),
            None if sets["student"] is None else LabelSets.from_dict(sets["student"]),
            None if sets["ensemble"] is None else LabelSets.from_dict(sets["ensemble"]),
            None if sets["critical"] is None else names.index(sets["critical"]),
            sets["critical_in_set"],
        )


def answered_figures(y_true: np.ndarray, labels: np.ndarray, label_names: Sequence[str], ordinal: bool) -> dict:
    """Coverage, and the figures among the answered rows (keys as the targets'). A class never true among them has
    missed nothing (recall 1.0), one never predicted has raised no false alarm (precision 1.0)."""
    answered = labels != REFER
    out: dict = {"coverage": float(answered.mean()) if len(labels) else 0.0, "answered": int(answered.sum())}
    if not answered.any():
        return out
    cm = confusion(np.asarray(y_true)[answered], labels[answered], len(label_names))
    figures = confusion_figures(cm, label_names, ordinal)
    for k, name in enumerate(label_names):
        if cm[k].sum() == 0:
            figures[f"recall[{name}]"] = 1.0
        if cm[:, k].sum() == 0:
            figures[f"precision[{name}]"] = 1.0
    return out | figures


def targets_met(figures: dict, targets: Sequence[TargetSpec]) -> bool:
    """Every target holds among the answered rows (vacuously when none is answered)."""
    return figures["answered"] == 0 or all(t.is_met(figures[t.key]) for t in targets)


def _candidates(confidence: np.ndarray) -> np.ndarray:
    values = np.unique(np.quantile(confidence, np.linspace(0.0, 1.0, THRESHOLD_GRID))) if len(confidence) else []
    return np.array([*values, np.inf])


def tune_cascade(
    cascade: Cascade,
    y_val: Sequence[int],
    student_probs: np.ndarray,
    targets: Sequence[TargetSpec],
    ensemble_probs: np.ndarray | None = None,
    teacher_probs: Sequence[np.ndarray] | None = None,
    out_of_scope: Sequence[bool] | None = None,
) -> tuple[Cascade, dict]:
    """τ₁ (and τ₂ when `cascade.ensemble` is set) for the largest validation coverage at which every target holds
    among answered rows; ties go to the higher accuracy among them, then to fewer rows sent to the ensemble.
    Returns the tuned cascade and what it reached on validation."""
    y = np.asarray(y_val)
    names, ordinal = cascade.label_names, cascade.ordinal
    oos = np.zeros(len(y), bool) if out_of_scope is None else np.asarray(out_of_scope, bool)
    s_conf = cascade.student(student_probs, teacher_probs)
    s_label, s_sets = severe_argmax(student_probs, ordinal), cascade._sets(cascade.student_sets, student_probs)
    use_ensemble = cascade.ensemble is not None and ensemble_probs is not None
    if use_ensemble:
        e_conf = cascade.ensemble(ensemble_probs)
        e_label, e_sets = severe_argmax(ensemble_probs, ordinal), cascade._sets(cascade.ensemble_sets, ensemble_probs)
    else:
        e_conf = e_label = e_sets = None
    best, best_key, best_figures = None, None, None
    for t1 in _candidates(s_conf[~oos]):
        for t2 in _candidates(e_conf[~oos]) if use_ensemble else [np.inf]:
            trial = replace(cascade, student_threshold=float(t1), ensemble_threshold=float(t2))
            decisions = trial._route(s_label, s_conf, e_label, e_conf, s_sets, e_sets, oos)
            figures = answered_figures(y, decisions.labels, names, ordinal)
            if not targets_met(figures, targets):
                continue
            key = (
                figures["coverage"],
                figures.get("accuracy", 0.0),
                -float((decisions.answered_by == "ensemble").mean()),
            )
            if best_key is None or key > best_key:
                best, best_key, best_figures = trial, key, figures
    reached = {
        "coverage": best_figures["coverage"],
        "figures": {k: v for k, v in best_figures.items() if k not in ("coverage", "answered")},
        "answers_any": best_figures["answered"] > 0,
    }
    return best, reached
