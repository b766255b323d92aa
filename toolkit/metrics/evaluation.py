"""Everything the report says about one model: figures on validation and test at the plain argmax, ranking and
calibration figures, bootstrap intervals, the pack's own figures (a `metrics` hook), and the decision policy tuned
on validation to meet the targets, with each target's PASS / FAIL and interval on test."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from toolkit.config import PackConfig
from toolkit.decision.policy import tune_policy
from toolkit.metrics.bootstrap import bootstrap_intervals, confusion, confusion_figures
from toolkit.metrics.classification import classification_metrics, quadratic_weighted_kappa
from toolkit.metrics.probabilistic import apply_temperature, calibration_metrics, fit_temperature, one_vs_rest_auc
from toolkit.metrics.risk import expected_cost

DomainHook = Callable[..., dict]  # (y_true, probs, y_pred, config) -> {figure: value}
HEADLINE = ("accuracy", "macro_f1")


def _figures(y: np.ndarray, probs: np.ndarray, predicted: np.ndarray, config: PackConfig, hook: DomainHook | None):
    """The argmax-free extras for one split: AUCs, calibration, ordinal agreement, cost, the pack's hook."""
    out = {"auc": one_vs_rest_auc(y, probs, config.label_names), "calibration": calibration_metrics(y, probs)}
    if config.ordinal:
        out["quadratic_weighted_kappa"] = quadratic_weighted_kappa(y, predicted, len(config.label_names))
    if config.cost_matrix is not None:
        out["expected_cost"] = expected_cost(y, predicted, config.cost_matrix)
    if hook is not None:
        out["domain"] = hook(y_true=y, probs=probs, y_pred=predicted, config=config)
    return out


def evaluate_model(
    y_val: Sequence[int],
    probs_val: np.ndarray,
    y_test: Sequence[int],
    probs_test: np.ndarray,
    config: PackConfig,
    hook: DomainHook | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """One model's entry in `metrics.json` (see docs in toolkit/metrics/report.py for the schema)."""
    labels, ordinal = config.label_names, config.ordinal
    y_val, y_test = np.asarray(y_val), np.asarray(y_test)
    keys = [*HEADLINE, *(t.key for t in config.targets)]
    keys += [f"{figure}[{label}]" for label in labels for figure in ("recall", "precision")]
    keys = list(dict.fromkeys(keys))
    entry: dict = {}
    for split, y, probs in (("validation", y_val, probs_val), ("test", y_test, probs_test)):
        predicted = probs.argmax(axis=1)
        entry[split] = {
            **classification_metrics(y, probs, labels, ordinal),
            **_figures(y, probs, predicted, config, hook),
        }
    intervals = bootstrap_intervals(y_test, probs_test.argmax(axis=1), labels, ordinal, resamples, seed)
    entry["test"]["intervals"] = {key: intervals[key] for key in keys if key in intervals}
    temperature = fit_temperature(y_val, probs_val)
    scaled = apply_temperature(probs_test, temperature)
    entry["test"]["calibration_scaled"] = {"temperature": temperature, **calibration_metrics(y_test, scaled)}
    entry["policy"] = decision_policy(y_val, probs_val, y_test, probs_test, config, resamples, seed)
    return entry


def decision_policy(
    y_val: np.ndarray,
    probs_val: np.ndarray,
    y_test: np.ndarray,
    probs_test: np.ndarray,
    config: PackConfig,
    resamples: int,
    seed: int,
) -> dict:
    """Weights tuned on validation for the targets, then every target's value, interval and status on test."""
    labels = config.label_names
    policy, reached = tune_policy(y_val, probs_val, labels, config.targets, config.ordinal)
    predicted = policy.predict(probs_test)
    figures = confusion_figures(confusion(y_test, predicted, len(labels)), labels, config.ordinal)
    intervals = bootstrap_intervals(y_test, predicted, labels, config.ordinal, resamples, seed)
    targets = []
    for target in config.targets:
        bound, limit = target.bound
        value = figures[target.key]
        targets.append(
            {
                "target": target.key,
                "bound": bound,
                "limit": limit,
                "validation": reached["figures"][target.key],
                "value": value,
                "interval": intervals[target.key],
                "status": "PASS" if target.is_met(value) else "FAIL",
                # met even at the unfavourable end of the 95% interval?
                "robust": target.is_met(intervals[target.key]["low" if bound == "at_least" else "high"]),
            }
        )
    return {
        **policy.to_dict(),
        "validation": {"targets_met": reached["targets_met"], "of": reached["targets"]},
        "test": {key: figures[key] for key in (*HEADLINE, *(t.key for t in config.targets))},
        "test_intervals": {key: intervals[key] for key in HEADLINE},
        "targets": targets,
    }
