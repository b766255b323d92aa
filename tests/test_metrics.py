"""Classification figures against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from toolkit.config import TargetSpec
from toolkit.data.scores import macro_f1
from toolkit.metrics.bootstrap import confusion, confusion_figures
from toolkit.metrics.classification import check_targets, classification_metrics, ordinal_error_rates

LABELS = ["low", "medium", "high"]


def one_hot(predicted: list[int]) -> np.ndarray:
    return np.eye(3)[predicted]


def test_per_class_and_macro_figures_match_scikit_learn() -> None:
    y, p = [0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2]
    m = classification_metrics(y, one_hot(p), LABELS)
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["per_class"]["medium"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_a_label_the_data_never_has_does_not_drag_the_macro_average() -> None:
    y, p = [0, 0, 2, 2], [0, 0, 2, 0]  # no `medium` anywhere
    m = classification_metrics(y, one_hot(p), LABELS)
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))  # over {low, high}
    assert m["per_class"]["medium"]["support"] == 0


def test_macro_f1_by_hand_leaves_out_classes_no_row_has() -> None:
    # low: precision 1, recall 1/2, F1 2/3; high: precision 2/3, recall 1, F1 4/5; medium occurs nowhere
    assert macro_f1([0, 0, 2, 2], [0, 2, 2, 2]) == pytest.approx((2 / 3 + 4 / 5) / 2)
    # a class predicted but never right counts as 0, without a warning
    assert macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)


def test_macro_f1_from_the_confusion_matrix_is_the_same_figure() -> None:
    y, p = np.array([0, 0, 1, 1, 2, 2, 2, 0]), np.array([0, 1, 1, 1, 2, 0, 2, 2])
    figures = confusion_figures(confusion(y, p, 3), LABELS)
    assert figures["macro_f1"] == pytest.approx(macro_f1(y, p))


def test_under_and_over_triage_by_hand() -> None:
    # truth: urgent, emergent, emergent, non_urgent, urgent; predicted one below, same, one below, one above, same
    assert ordinal_error_rates([1, 2, 2, 0, 1], [0, 2, 1, 1, 1]) == {"under_triage_rate": 0.4, "over_triage_rate": 0.2}


def test_targets_pass_or_fail_with_their_bounds() -> None:
    m = classification_metrics([2, 2, 2, 1], one_hot([2, 2, 1, 1]), LABELS, ordinal=True)
    results = check_targets(
        m,
        [TargetSpec(metric="recall", label="high", at_least=0.95), TargetSpec(metric="under_triage_rate", at_most=0.3)],
    )
    assert [(r["target"], r["status"]) for r in results] == [("recall[high]", "FAIL"), ("under_triage_rate", "PASS")]
    assert results[0]["value"] == pytest.approx(2 / 3) and results[1]["value"] == pytest.approx(0.25)
