"""The finance pack's own figures for the `high` (escalate) class, as a risk committee reads them."""

from __future__ import annotations

import numpy as np

from toolkit.metrics.risk import gini, ks_statistic, recall_at_budget, recall_at_precision

MIN_PRECISION = 0.50  # at most one false alarm per true escalation
ALERT_BUDGET = 0.10  # the review team can look at one case in ten


def risk_figures(y_true: np.ndarray, probs: np.ndarray, y_pred: np.ndarray, config) -> dict:
    """Recall of `high` at precision >= 0.50 and within a 10% alert budget, KS and Gini of P(high)."""
    k = config.label_names.index(config.critical_label)
    positive, score = np.asarray(y_true) == k, probs[:, k]
    if positive.all() or not positive.any():
        return {}  # no ranking figure exists without both kinds of case
    return {
        f"recall_at_precision_{MIN_PRECISION:.2f}": recall_at_precision(positive, score, MIN_PRECISION),
        f"recall_at_alert_budget_{ALERT_BUDGET:.0%}": recall_at_budget(positive, score, ALERT_BUDGET),
        "ks": ks_statistic(positive, score),
        "gini": gini(positive, score),
    }
