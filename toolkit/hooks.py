"""The signatures of a pack's hooks: the functions `pack.yaml`'s `hooks:` names (see `HooksSpec` in config.py).

Each is a `typing.Protocol`, so a pack's function needs no import of ours: matching the call is enough.

>>> from toolkit.packs import load_pack
>>> pack = load_pack("finance_risk")  # doctest: +SKIP
>>> frame = pack.hook("synthetic")(n_rows=100, seed=0)  # doctest: +SKIP
>>> points = pack.hook("rules")(["wire to a high-risk corridor"])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from toolkit.config import PackConfig


class SyntheticHook(Protocol):
    """`synthetic: synthetic.py:generate`: `n_rows` distinct labeled rows in the pack's column names, the same rows
    for the same `seed` (the example data and the data templates come from it)."""

    def __call__(self, n_rows: int = ..., seed: int = ...) -> pd.DataFrame: ...


class RulesHook(Protocol):
    """`rules: rules.py:score`: points per label, shape (len(texts), number of labels) in the pack's label order,
    for each rendered input; the `rules` teacher kind calibrates them into probabilities."""

    def __call__(self, texts: list[str]) -> np.ndarray: ...


class MetricsHook(Protocol):
    """`metrics: metrics.py:figures`: the pack's own figures for one model on one split, called with keywords;
    an empty mapping when a figure cannot be computed (e.g. a split without the critical class)."""

    def __call__(
        self, y_true: np.ndarray, probs: np.ndarray, y_pred: np.ndarray, config: PackConfig
    ) -> dict[str, Any]: ...
