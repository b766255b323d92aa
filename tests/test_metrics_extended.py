"""Issue 7's metrics against scikit-learn or hand-computed values on small fixed arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from toolkit.config import TargetSpec
from toolkit.decision.policy import tune_policy
from toolkit.metrics.bootstrap import bootstrap_intervals, confusion, confusion_figures
from toolkit.metrics.classification import quadratic_weighted_kappa
from toolkit.metrics.probabilistic import (
    apply_temperature,
    brier_score,
    fit_temperature,
    one_vs_rest_auc,
    reliability,
)
from toolkit.metrics.report import domain_table
from toolkit.metrics.risk import expected_cost, gini, ks_statistic, recall_at_budget, recall_at_precision

LABELS = ["low", "medium", "high"]
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
P = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.5, 0.2, 0.3],
        [0.2, 0.5, 0.3],
        [0.3, 0.6, 0.1],
        [0.1, 0.7, 0.2],
        [0.4, 0.3, 0.3],
        [0.1, 0.2, 0.7],
        [0.2, 0.5, 0.3],
        [0.1, 0.1, 0.8],
    ]
)


def test_confusion_figures_match_scikit_learn():
    predicted = P.argmax(axis=1)
    figures = confusion_figures(confusion(Y, predicted, 3), LABELS, ordinal=True)
    assert figures["macro_f1"] == pytest.approx(f1_score(Y, predicted, average="macro"))
    for k, name in enumerate(LABELS):
        assert figures[f"recall[{name}]"] == pytest.approx(recall_score(Y, predicted, labels=[k], average="macro"))
        assert figures[f"precision[{name}]"] == pytest.approx(
            precision_score(Y, predicted, labels=[k], average="macro")
        )
    # hand count: predictions below the truth (under-triage) and above it (over-triage)
    assert figures["under_triage_rate"] == pytest.approx(np.mean(predicted < Y))
    assert figures["over_triage_rate"] == pytest.approx(np.mean(predicted > Y))


def test_under_and_over_triage_on_a_hand_made_case():
    # truth: emergent(2), urgent(1), non-urgent(0); one emergent called urgent (under), one non-urgent called urgent
    y, predicted = np.array([2, 2, 1, 0, 0]), np.array([2, 1, 1, 1, 0])
    figures = confusion_figures(confusion(y, predicted, 3), ["non_urgent", "urgent", "emergent"], ordinal=True)
    assert (figures["under_triage_rate"], figures["over_triage_rate"]) == (0.2, 0.2)
    assert figures["recall[emergent]"] == 0.5


def test_auc_and_calibration_match_scikit_learn():
    auc = one_vs_rest_auc(Y, P, LABELS)
    for k, name in enumerate(LABELS):
        assert auc["per_class"][name]["pr_auc"] == pytest.approx(average_precision_score(np.equal(Y, k), P[:, k]))
        assert auc["per_class"][name]["roc_auc"] == pytest.approx(roc_auc_score(np.equal(Y, k), P[:, k]))
    binary = np.column_stack([1 - P[:, 2], P[:, 2]])
    assert brier_score((Y == 2).astype(int), binary) == pytest.approx(2 * brier_score_loss(Y == 2, P[:, 2]))
    assert one_vs_rest_auc([0, 0], P[:2], LABELS)["per_class"]["low"]["pr_auc"] is None  # one class only


def test_ece_by_hand():
    # two bins hold the rows: confidence 0.9 (2 rows, 1 right) and 0.6 (2 rows, both right)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    curve = reliability([0, 1, 0, 1], probs, bins=10)
    assert curve["ece"] == pytest.approx(0.5 * abs(0.9 - 0.5) + 0.5 * abs(0.6 - 1.0))
    assert [b["count"] for b in curve["bins"]] == [2, 2]


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3))
    logits[np.arange(600), y] += 1.0
    sharp = np.exp(4 * logits) / np.exp(4 * logits).sum(axis=1, keepdims=True)  # 4x too confident
    t = fit_temperature(y, sharp)
    assert 3.0 < t < 5.5
    assert reliability(y, apply_temperature(sharp, t))["ece"] < reliability(y, sharp)["ece"]


def test_risk_figures():
    positive, score = Y == 2, P[:, 2]
    assert gini(positive, score) == pytest.approx(2 * roc_auc_score(positive, score) - 1)
    # KS by hand: the largest gap between the positives' and negatives' cumulative score distributions
    thresholds = np.unique(score)
    gaps = [np.mean(score[positive] >= t) - np.mean(score[~positive] >= t) for t in thresholds]
    assert ks_statistic(positive, score) == pytest.approx(max(gaps))
    at = recall_at_precision(positive, score, 1.0)
    assert (at["recall"], at["threshold"]) == (pytest.approx(2 / 3), 0.7)
    assert recall_at_budget(positive, score, 0.2) == {"recall": pytest.approx(2 / 3), "precision": 1.0, "flagged": 2}
    assert expected_cost(Y, P.argmax(axis=1), [[0, 1, 2], [10, 0, 1], [100, 20, 0]]) == pytest.approx(
        (0 + 0 + 0 + 1 + 0 + 0 + 10 + 0 + 20 + 0) / 10
    )
    assert quadratic_weighted_kappa(Y, P.argmax(axis=1), 3) == pytest.approx(
        cohen_kappa_score(Y, P.argmax(axis=1), weights="quadratic")
    )


def test_bootstrap_interval_contains_the_point_figure():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    predicted = np.where(rng.random(300) < 0.8, y, rng.integers(0, 3, 300))
    point = confusion_figures(confusion(y, predicted, 3), LABELS)
    ci = bootstrap_intervals(y, predicted, LABELS, resamples=400, seed=0)
    for key in ("macro_f1", "accuracy", "recall[high]"):
        assert ci[key]["low"] < point[key] < ci[key]["high"]
    assert ci["accuracy"]["high"] - ci["accuracy"]["low"] < 0.15


def test_threshold_tuning_meets_a_recall_target_on_a_constructed_case():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 900)
    probs = rng.dirichlet([2, 2, 2], size=900)
    probs[np.arange(900), y] += 0.25  # informative but timid about every class
    probs /= probs.sum(axis=1, keepdims=True)
    target = TargetSpec(metric="recall", label="high", at_least=0.95)
    plain = confusion_figures(confusion(y, probs.argmax(axis=1), 3), LABELS)
    assert plain["recall[high]"] < 0.95
    policy, reached = tune_policy(y, probs, LABELS, [target])
    assert reached["targets_met"] == 1 and reached["figures"]["recall[high]"] >= 0.95
    assert policy.weights[2] > policy.weights[0]  # `high` was boosted
    predicted = policy.predict(probs)
    assert np.mean(predicted[y == 2] == 2) >= 0.95


def test_targets_are_met_in_their_order_of_priority():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 900)
    probs = rng.dirichlet([2, 2, 2], size=900)
    probs[np.arange(900), y] += 0.25
    probs /= probs.sum(axis=1, keepdims=True)
    recall = TargetSpec(metric="recall", label="high", at_least=0.95)
    precision = TargetSpec(metric="precision", label="high", at_least=0.7)  # cannot hold together with the recall
    _, recall_first = tune_policy(y, probs, LABELS, [recall, precision])
    _, precision_first = tune_policy(y, probs, LABELS, [precision, recall])
    assert recall_first["figures"]["recall[high]"] >= 0.95 and recall_first["figures"]["precision[high]"] < 0.7
    assert precision_first["figures"]["precision[high]"] >= 0.7 and precision_first["figures"]["recall[high]"] < 0.95


def test_domain_table_flattens_ordinal_cost_and_hook_figures() -> None:
    models = {
        "a": {
            "test": {
                "under_triage_rate": 0.1,
                "quadratic_weighted_kappa": 0.8,
                "domain": {"ks": 0.5, "at_budget": {"recall": 0.4, "flagged": 3}},
            }
        },
        "b": {"test": {"domain": {"ks": 0.25}}},
    }
    columns, rows = domain_table(models)
    assert columns == ["under-triage", "QWK", "ks", "at_budget"]
    assert rows == [["a", "0.100", "0.800", "0.500", "0.400"], ["b", "—", "—", "0.250", "—"]]
