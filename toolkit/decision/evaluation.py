"""The decision layer for a run's models: each model's confidence score and test risk–coverage curve, and the
student → ensemble → person cascade with its conformal label sets, tuned on validation and reported on test with
bootstrap intervals. What `report/metrics.json` (`models.<name>.selective`, `deferral`) and `export/deploy.json`
carry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.config import PackConfig
from toolkit.decision.cascade import Cascade, Decisions, answered_figures, tune_cascade
from toolkit.decision.confidence import NEEDS_TEACHERS, Confidence, choose_confidence
from toolkit.decision.conformal import class_alphas, fit_label_sets, needed_rows, set_coverage
from toolkit.decision.labels import severe_argmax
from toolkit.decision.risk_coverage import coverage_at_accuracy, risk_coverage_curve


@dataclass(frozen=True)
class DeferralInputs:
    """What the cascade needs besides the student's probabilities, per split ("validation", "test")."""

    config: PackConfig
    y: dict[str, np.ndarray]
    ensemble: dict[str, np.ndarray] | None  # None: no ensemble at serving time (a paid API teacher, or turned off)
    teachers: dict[str, list[np.ndarray]] | None  # each teacher's probabilities, for `teacher_agreement`
    out_of_scope: dict[str, np.ndarray]  # booleans per row
    seed: int = 0
    resamples: int = 1000


def selective_entry(
    inputs: DeferralInputs, probs: dict[str, np.ndarray], with_teachers: bool = False
) -> tuple[Confidence, dict]:
    """A model's confidence score chosen on validation, and its risk–coverage curve on test with intervals;
    `with_teachers` (the student) adds the teacher-agreement candidate where the teachers are served."""
    config = inputs.config
    teachers = inputs.teachers if with_teachers else None
    candidates = [c for c in config.deferral.scores if teachers or c not in NEEDS_TEACHERS]
    confidence, areas = choose_confidence(
        inputs.y["validation"], probs["validation"], candidates, config.ordinal, teachers and teachers["validation"]
    )
    curve = risk_coverage_curve(
        inputs.y["test"],
        severe_argmax(probs["test"], config.ordinal),
        confidence(probs["test"], teachers and teachers["test"]),
        config.ordinal,
        _critical(config),
        resamples=inputs.resamples,
        seed=inputs.seed,
    )
    return confidence, {**confidence.to_dict(), "aurc_validation": areas, "test_curve": curve}


def add_selective_entries(
    entries: dict[str, dict], probs: dict[str, dict[str, np.ndarray]], inputs: DeferralInputs
) -> dict:
    """Give every model entry its `selective` figures, with the coverage at which it reaches the best test accuracy
    of the run at full coverage (the majority baseline aside); returns that reference."""
    confidences = {}
    for name, model_probs in probs.items():
        confidences[name], entries[name]["selective"] = selective_entry(inputs, model_probs, name == "student")
    ordinal, y = inputs.config.ordinal, inputs.y["test"]
    contenders = [n for n in probs if entries[n].get("role") != "baseline"] or list(probs)
    best = max(contenders, key=lambda n: entries[n]["test"]["accuracy"])
    accuracy = entries[best]["test"]["accuracy"]
    for name, model_probs in probs.items():
        test = model_probs["test"]
        teachers = inputs.teachers["test"] if inputs.teachers and name == "student" else None
        entries[name]["selective"]["coverage_at_reference_accuracy"] = coverage_at_accuracy(
            y, severe_argmax(test, ordinal), confidences[name](test, teachers), accuracy
        )
    return {"model": best, "accuracy": accuracy}


def _critical(config: PackConfig) -> int | None:
    return config.label_names.index(config.critical_label) if config.critical_label else None


def _label_sets(config: PackConfig, y_val: np.ndarray, probs_val: np.ndarray):
    spec = config.deferral.label_sets
    alphas = class_alphas(config.label_names, spec.alpha, config.critical_label, spec.critical_alpha)
    return fit_label_sets(y_val, probs_val, config.label_names, alphas)


def build_cascade(inputs: DeferralInputs, student: dict[str, np.ndarray]) -> tuple[Cascade, dict]:
    """The cascade for one student (the run's, or a compressed variant), tuned on validation."""
    config = inputs.config
    spec = config.deferral
    y_val = inputs.y["validation"]
    teachers_val = inputs.teachers["validation"] if inputs.teachers else None
    student_confidence, areas = choose_confidence(
        y_val, student["validation"], spec.scores, config.ordinal, teachers_val
    )
    ensemble_confidence = None
    if inputs.ensemble is not None:
        ensemble_confidence, _ = choose_confidence(
            y_val, inputs.ensemble["validation"], [s for s in spec.scores if s not in NEEDS_TEACHERS], config.ordinal
        )
    base = Cascade(
        tuple(config.label_names),
        config.ordinal,
        student_confidence,
        ensemble=ensemble_confidence,
        student_sets=_label_sets(config, y_val, student["validation"]),
        ensemble_sets=None if inputs.ensemble is None else _label_sets(config, y_val, inputs.ensemble["validation"]),
        critical=_critical(config),
        critical_in_set=spec.label_sets.critical_in_set if config.critical_label else "ignore",
    )
    cascade, reached = tune_cascade(
        base,
        y_val,
        student["validation"],
        spec.targets,
        None if inputs.ensemble is None else inputs.ensemble["validation"],
        teachers_val,
        inputs.out_of_scope["validation"],
    )
    return cascade, {"score_areas_validation": areas, **reached}


def _decide(cascade: Cascade, inputs: DeferralInputs, student: dict[str, np.ndarray], split: str):
    return cascade.decide(
        student[split],
        None if inputs.ensemble is None else inputs.ensemble[split],
        inputs.teachers[split] if inputs.teachers else None,
        inputs.out_of_scope[split],
    )


def evaluate_cascade(inputs: DeferralInputs, student: dict[str, np.ndarray]) -> tuple[Cascade, dict]:
    """Tune on validation, then everything the report says about the cascade on test, with 95% intervals."""
    cascade, validation = build_cascade(inputs, student)
    decisions = _decide(cascade, inputs, student, "test")
    test, targets = decisions_report(inputs.config, inputs.y["test"], decisions, inputs.seed, inputs.resamples)
    student_sets = cascade.student_sets.sets(student["test"])
    names = inputs.config.label_names
    test["label_set_coverage"] = set_coverage(inputs.y["test"], student_sets, names)
    test["label_set_coverage_intervals"] = _class_coverage_intervals(inputs.y["test"], student_sets, names)
    report = {
        "cascade": cascade.to_dict(),
        "validation": validation,
        "test": test,
        "targets": [{**t, "validation": validation["figures"].get(t["target"])} for t in targets],
        "targets_met_on_validation": validation["answers_any"],
        "label_sets_too_few": {
            name: needed_rows(cascade.student_sets.alphas[k])
            for k, name in enumerate(names)
            if name in cascade.student_sets.too_few
        },
        "out_of_scope": {split: int(np.sum(mask)) for split, mask in inputs.out_of_scope.items()},
    }
    return cascade, report


def decisions_report(
    config: PackConfig, y: np.ndarray, decisions: Decisions, seed: int = 0, resamples: int = 1000
) -> tuple[dict, list[dict]]:
    """What a cascade's decisions on labeled rows come to, each figure with its bootstrap 95% interval: coverage,
    the figures among answered rows, who answered, why the referred were referred and their true classes; and the
    deferral targets among answered rows with PASS / FAIL."""
    names, ordinal, targets = config.label_names, config.ordinal, config.deferral.targets
    y = np.asarray(y)
    point = answered_figures(y, decisions.labels, names, ordinal)
    keys = ["coverage", "accuracy", "macro_f1", *(t.key for t in targets)]
    keys += [k for k in ("under_triage_rate",) if ordinal and k not in keys]
    if config.critical_label:
        keys += [k for k in (f"recall[{config.critical_label}]",) if k not in keys]
    draws = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    samples: dict[str, list[float]] = {key: [] for key in [*keys, "ensemble_share"]}
    for rows in draws:
        figures = answered_figures(y[rows], decisions.labels[rows], names, ordinal)
        samples["ensemble_share"].append(float((decisions.answered_by[rows] == "ensemble").mean()))
        for key in keys:
            if key in figures:
                samples[key].append(figures[key])
    intervals = {
        key: {"low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5))}
        for key, v in samples.items()
        if v
    }
    referred = ~decisions.answered
    report = {
        "rows": len(y),
        "coverage": point["coverage"],
        "answered": point["answered"],
        "figures": {k: point[k] for k in keys if k in point and k != "coverage"},
        "intervals": intervals,
        "answered_by": {who: int((decisions.answered_by == who).sum()) for who in ("student", "ensemble", "person")},
        "ensemble_share": float((decisions.answered_by == "ensemble").mean()),
        "reasons": dict(Counter(decisions.reasons.tolist())),
        "referred_true_labels": {name: int((y[referred] == k).sum()) for k, name in enumerate(names)},
        "referred_reasons_by_label": {
            name: dict(Counter(decisions.reasons[referred & (y == k)].tolist())) for k, name in enumerate(names)
        },
    }
    return report, [_target_entry(t, point, intervals) for t in targets]


def _target_entry(target, point: dict, intervals: dict) -> dict:
    bound, limit = target.bound
    value = point.get(target.key)
    interval = intervals.get(target.key)
    met = point["answered"] == 0 or target.is_met(value)
    return {
        "target": target.key,
        "bound": bound,
        "limit": limit,
        "value": value,
        "interval": interval,
        "status": "PASS" if met else "FAIL",
        "robust": bool(interval) and target.is_met(interval["low" if bound == "at_least" else "high"]),
    }


def _class_coverage_intervals(y: np.ndarray, sets: np.ndarray, names: Sequence[str]) -> dict:
    """Wilson 95% interval of each class's empirical set coverage on test."""
    out = {}
    held = sets[np.arange(len(y)), y]
    for k, name in enumerate(names):
        n = int((y == k).sum())
        if n:
            out[name] = wilson(int(held[y == k].sum()), n)
    return out


def wilson(successes: int, n: int, z: float = 1.96) -> dict[str, float]:
    """Wilson score interval of a proportion (well behaved at 0 and 1, unlike the bootstrap on few rows).

    >>> wilson(10, 10)["low"] > 0.7
    True
    """
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"low": float(max(0.0, centre - half)), "high": float(min(1.0, centre + half))}
