"""Combine several teachers' probabilities into one soft target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_probabilities(probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of (n, C) probability arrays, renormalised per row.

    >>> import numpy as np
    >>> average_probabilities([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])]).tolist()
    [[0.5, 0.5]]
    """
    if not probabilities:
        raise ValueError("at least one teacher's probabilities are needed")
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"teachers disagree on shape: {sorted(shapes)}")
    w = np.ones(len(probabilities)) if weights is None else np.asarray(weights, dtype=float)
    mixed = np.tensordot(w / w.sum(), np.stack(probabilities), axes=1)
    return mixed / mixed.sum(axis=1, keepdims=True)
