"""The triage pack's own safety figures: which under-triage errors happen, not only how many."""

from __future__ import annotations

import numpy as np


def safety_figures(y_true: np.ndarray, probs: np.ndarray, y_pred: np.ndarray, config) -> dict:
    """Among emergent cases, the share triaged lower, and the share sent all the way to non-urgent (the error a
    clinical safety board asks about first); among urgent cases, the share called non-urgent."""
    names = config.label_names
    emergent, urgent, lowest = names.index("emergent"), names.index("urgent"), 0
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)

    def share(mask: np.ndarray, wrong: np.ndarray) -> float | None:
        return float(wrong[mask].mean()) if mask.any() else None

    return {
        "emergent_under_triaged": share(y_true == emergent, y_pred < emergent),
        "emergent_called_non_urgent": share(y_true == emergent, y_pred == lowest),
        "urgent_called_non_urgent": share(y_true == urgent, y_pred == lowest),
    }
