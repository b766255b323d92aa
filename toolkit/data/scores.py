"""Macro F1 of predicted label indices: the one definition every model choice and report uses.

It sits in `data/` (beside the splits it scores) so that teachers and distillation, which sit below `metrics/` in
the layer order, can use it without importing upward.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes that occur in truth or prediction; a class with no
    true and no predicted row is left out (a label a data set never has must not count as one the model failed on),
    and a class predicted but never right scores 0 without a warning.

    >>> macro_f1([0, 0, 1, 1], [0, 1, 1, 1])
    0.7333333333333334
    >>> macro_f1([0, 1], [0, 1])  # a third label, absent from both, does not lower it
    1.0
    """
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), average="macro", zero_division=0))
