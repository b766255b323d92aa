"""The decision layer as specifications: severe tie-breaking, confidence scores and risk–coverage, class-conditional
conformal label sets, the scope check, and the cascade's thresholds tuned on validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from toolkit.config import ScopeSpec, TargetSpec, load_pack_config
from toolkit.decision.cascade import REFER, Cascade, answered_figures, tune_cascade
from toolkit.decision.confidence import Confidence, choose_confidence
from toolkit.decision.conformal import class_alphas, fit_label_sets, needed_rows, set_coverage
from toolkit.decision.evaluation import DeferralInputs, evaluate_cascade
from toolkit.decision.labels import severe_argmax
from toolkit.decision.policy import DecisionPolicy, tune_policy
from toolkit.decision.risk_coverage import area_under_risk_coverage, coverage_at_accuracy, risk_coverage_curve
from toolkit.decision.scope import ScopeModel
from toolkit.decision.words import deferral_sentence
from toolkit.errors import ConfigError

LABELS = ("non_urgent", "urgent", "emergent")
TRIAGE = load_pack_config("domains/medical_triage/pack.yaml")


def _calibrated(seed: int, n: int, classes: int = 3, sharpness: float = 1.5):
    """Rows whose labels are drawn from their own probabilities: a known, calibrated distribution."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(classes, 1.0 / sharpness), size=n)
    y = np.array([rng.choice(classes, p=p) for p in probs])
    return y, probs


# ------------------------------------------------------------------------------------------------ ties


def test_an_even_split_goes_to_the_more_severe_level_on_ordinal_labels() -> None:
    tie = np.array([[0.5, 0.5, 0.0], [0.4, 0.2, 0.4], [1 / 3, 1 / 3, 1 / 3]])
    assert severe_argmax(tie, ordinal=True).tolist() == [1, 2, 2]
    assert severe_argmax(tie, ordinal=False).tolist() == [0, 0, 0]
    assert DecisionPolicy(LABELS, (1.0, 1.0, 1.0), ordinal=True).predict(tie).tolist() == [1, 2, 2]
    cascade = Cascade(LABELS, True, Confidence("top_probability"), student_threshold=0.0)
    assert cascade.decide(tie).labels.tolist() == [1, 2, 2]


def test_the_tuned_policy_breaks_ties_toward_severity() -> None:
    y = np.array([2, 2, 0])
    probs = np.array([[0.5, 0.0, 0.5], [0.5, 0.0, 0.5], [0.9, 0.05, 0.05]])
    policy, reached = tune_policy(y, probs, LABELS, [], ordinal=True)
    assert policy.predict(np.array([[0.5, 0.0, 0.5]])).tolist() == [2] or policy.weights[2] >= policy.weights[0]


# ------------------------------------------------------------------------------------ confidence, curves


def test_risk_falls_as_coverage_shrinks_when_confidence_ranks_errors_last() -> None:
    y = np.zeros(100, int)
    predicted = np.where(np.arange(100) < 80, 0, 1)  # the last 20 rows are wrong
    confidence = np.linspace(1.0, 0.0, 100)  # ... and the least confident
    curve = risk_coverage_curve(y, predicted, confidence, points=[0.5, 0.8, 1.0], resamples=200)
    assert curve["risk"] == [0.0, 0.0, 0.2]
    assert curve["risk_low"][2] <= 0.2 <= curve["risk_high"][2]
    assert coverage_at_accuracy(y, predicted, confidence, 1.0) == 0.8
    assert area_under_risk_coverage(y, predicted, confidence) < area_under_risk_coverage(y, predicted, -confidence)


def test_the_confidence_score_is_the_one_that_ranks_validation_errors_last() -> None:
    y, probs = _calibrated(0, 600)
    noise = np.random.default_rng(1).dirichlet(np.ones(3), size=600)
    confidence, areas = choose_confidence(y, probs, ["top_probability", "margin"], ordinal=False)
    assert confidence.score == min(areas, key=areas.get)
    teachers_agree = [probs, probs]
    with_teachers, areas = choose_confidence(y, noise, ["top_probability", "teacher_agreement"], False, teachers_agree)
    assert with_teachers.score == "teacher_agreement"  # the student is noise; its teachers know


def test_margin_and_agreement_scores() -> None:
    probs = np.array([[0.7, 0.2, 0.1]])
    assert Confidence("margin")(probs)[0] == pytest.approx(0.5)
    assert Confidence("teacher_agreement")(probs, [np.array([[0.1, 0.8, 0.1]])])[0] == pytest.approx(np.sqrt(0.07))
    with pytest.raises(ValueError, match="needs the teachers"):
        Confidence("teacher_agreement")(probs)


# ---------------------------------------------------------------------------------------------- conformal


def test_class_conditional_coverage_holds_for_every_class_over_many_seeds() -> None:
    alphas = [0.1, 0.1, 0.05]
    held = {k: [] for k in range(3)}
    for seed in range(150):
        y_cal, p_cal = _calibrated(seed, 400)
        y_new, p_new = _calibrated(10_000 + seed, 400)
        sets = fit_label_sets(y_cal, p_cal, LABELS, alphas).sets(p_new)
        coverage = set_coverage(y_new, sets, LABELS)
        for k, name in enumerate(LABELS):
            held[k].append(coverage[name])
    for k, alpha in enumerate(alphas):
        mean = float(np.mean(held[k]))
        assert mean >= 1 - alpha - 0.01, (LABELS[k], mean)
        assert mean <= 1 - alpha + 0.04, (LABELS[k], mean)  # valid, not trivially (sets are not all labels)


def test_too_few_calibration_rows_put_the_class_in_every_set_and_say_so() -> None:
    y = np.array([0] * 50 + [2] * 10)
    probs = np.tile([0.8, 0.1, 0.1], (60, 1))
    sets = fit_label_sets(y, probs, LABELS, class_alphas(LABELS, 0.1, "emergent", 0.02))
    assert needed_rows(0.02) == 49 and sets.too_few == ["urgent", "emergent"]  # urgent: no rows at all
    assert sets.sets(np.array([[0.99, 0.005, 0.005]]))[0, 2]


# ------------------------------------------------------------------------------------------------ scope


def test_out_of_scope_rows_are_referred_with_their_reasons() -> None:
    train = pd.DataFrame({"heart_rate": [80, 95, None], "spo2": [97, None, 91]})
    scope = ScopeModel.fit(
        ["chest pain radiating to arm", "fever and cough", "fall with wrist pain"], train, ScopeSpec()
    )
    reasons = scope.reasons(
        ["Göğüs ağrısı ve nefes darlığı var", "胸痛和呼吸急促", "blorf snagg wuzzle pleek", "chest pain", "fever"],
        pd.DataFrame({"heart_rate": [80, 80, 80, 110, None], "spo2": [95, 95, 95, 90, None]}),
    )
    assert reasons[0].startswith("unknown_words") and reasons[2].startswith("unknown_words")
    assert reasons[1].startswith("unseen_script") and "CJK" in reasons[1]
    assert reasons[3] is None
    assert reasons[4].startswith("no_fields: none of heart_rate, spo2 given")
    cascade = Cascade(LABELS, True, Confidence("top_probability"), student_threshold=0.0)
    decided = cascade.decide(np.tile([0.1, 0.1, 0.8], (5, 1)), out_of_scope=[r is not None for r in reasons])
    assert decided.labels.tolist() == [REFER, REFER, REFER, 2, REFER]
    assert decided.reasons.tolist() == ["out_of_scope"] * 3 + ["confident", "out_of_scope"]
    assert ScopeModel.from_dict(json.loads(json.dumps(scope.to_dict()))) == scope


# ----------------------------------------------------------------------------------------------- cascade


def _triage_case(seed: int, n: int = 600):
    """A student sure and right on most rows, unsure and often wrong on the rest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    sure = rng.random(n) < 0.7
    guess = np.where(sure, y, rng.integers(0, 3, n))
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), guess] = np.where(sure, 0.8, 0.4)
    probs /= probs.sum(axis=1, keepdims=True)
    return y, probs


def test_tuning_reaches_the_targets_at_the_largest_coverage() -> None:
    y, probs = _triage_case(0)
    targets = [TargetSpec(metric="under_triage_rate", at_most=0.02), TargetSpec(metric="accuracy", at_least=0.97)]
    base = Cascade(LABELS, True, Confidence("top_probability"))
    cascade, reached = tune_cascade(base, y, probs, targets)
    assert reached["answers_any"] and reached["figures"]["under_triage_rate"] <= 0.02
    assert reached["coverage"] == pytest.approx(0.7, abs=0.05)  # the sure rows, and only those
    figures = answered_figures(y, cascade.decide(probs).labels, LABELS, True)
    assert figures["coverage"] == reached["coverage"] and figures["accuracy"] >= 0.97


def test_the_ensemble_answers_what_the_student_leaves() -> None:
    y, student = _triage_case(0)
    ensemble = np.eye(3)[y] * 0.9 + 0.1 / 3  # a slower model that knows
    targets = [TargetSpec(metric="accuracy", at_least=0.97)]
    base = Cascade(LABELS, True, Confidence("top_probability"), ensemble=Confidence("top_probability"))
    cascade, reached = tune_cascade(base, y, student, targets, ensemble_probs=ensemble)
    decided = cascade.decide(student, ensemble)
    assert reached["coverage"] == 1.0 and (decided.answered_by == "ensemble").mean() > 0.2


def test_when_no_threshold_meets_the_targets_every_case_is_referred_and_the_report_says_so() -> None:
    y, probs = _triage_case(0)
    wrong = np.roll(probs, 1, axis=1)  # confidently wrong everywhere
    deferral = TRIAGE.deferral.model_copy(update={"targets": [TargetSpec(metric="accuracy", at_least=0.9)]})
    config = TRIAGE.model_copy(update={"deferral": deferral})
    inputs = DeferralInputs(
        config,
        {"validation": y, "test": y},
        None,
        None,
        {"validation": np.zeros(len(y), bool), "test": np.zeros(len(y), bool)},
    )
    cascade, report = evaluate_cascade(inputs, {"validation": wrong, "test": wrong})
    assert report["targets_met_on_validation"] is False and report["test"]["coverage"] == 0.0
    assert report["test"]["answered_by"]["person"] == len(y)
    assert deferral_sentence(report, config).startswith("the model answers no patients")


def test_a_label_set_holding_the_critical_level_refers_or_escalates() -> None:
    sets = fit_label_sets(np.array([0] * 60 + [2] * 60), np.tile([0.6, 0.1, 0.3], (120, 1)), LABELS, [0.1] * 3)
    probs = np.array([[0.6, 0.1, 0.3]])  # answered non_urgent, but emergent is in its set
    refer = Cascade(
        LABELS, True, Confidence("top_probability"), 0.0, student_sets=sets, critical=2, critical_in_set="refer"
    )
    assert refer.decide(probs).labels.tolist() == [REFER] and refer.decide(probs).reasons.tolist() == ["label_set"]
    escalate = Cascade(
        LABELS, True, Confidence("top_probability"), 0.0, student_sets=sets, critical=2, critical_in_set="escalate"
    )
    assert escalate.decide(probs).labels.tolist() == [2]


def test_thresholds_survive_a_json_round_trip() -> None:
    sets = fit_label_sets(*_calibrated(3, 300), LABELS, [0.1, 0.1, 0.02])
    cascade = Cascade(
        LABELS,
        True,
        Confidence("margin", 0.8),
        0.42,
        Confidence("top_probability", 1.2),
        float("inf"),
        sets,
        sets,
        2,
        "refer",
    )
    again = Cascade.from_dict(json.loads(json.dumps(cascade.to_dict())))
    assert again == cascade
    y, probs = _calibrated(4, 200)
    assert (again.decide(probs, probs).labels == cascade.decide(probs, probs).labels).all()


def test_a_model_with_one_confidence_for_every_row_has_a_flat_risk_coverage_curve() -> None:
    y, predicted = np.array([0, 1, 0, 1, 0, 0]), np.zeros(6, int)
    curve = risk_coverage_curve(y, predicted, np.ones(6), points=[0.5, 1.0], resamples=50)
    assert curve["risk"] == [pytest.approx(1 / 3, abs=1e-4)] * 2  # ties count at their mean, not in row order
    assert coverage_at_accuracy(y, predicted, np.ones(6), 0.9) == 0.0


def test_a_teacher_score_without_served_teachers_is_a_clear_error() -> None:
    y, probs = _calibrated(5, 100)
    with pytest.raises(ConfigError, match="add top_probability or margin"):
        choose_confidence(y, probs, ["teacher_agreement"], ordinal=False)
