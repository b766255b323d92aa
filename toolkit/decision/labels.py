"""Which label a row of scores gives: the argmax, with ties broken toward the more severe level on ordinal packs
(labels run from least to most severe), so that an even split never lands on the harmless-looking level."""

from __future__ import annotations

import numpy as np


def severe_argmax(scores: np.ndarray, ordinal: bool) -> np.ndarray:
    """Index of each row's largest score; on ties, the last (most severe) index when `ordinal`.

    >>> severe_argmax(np.array([[0.5, 0.5, 0.0]]), ordinal=True).tolist()
    [1]
    """
    scores = np.asarray(scores)
    if not ordinal:
        return scores.argmax(axis=1)
    return scores.shape[1] - 1 - scores[:, ::-1].argmax(axis=1)
