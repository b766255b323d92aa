"""Stratified train / validation / test splits, optionally keeping groups (e.g. one patient) in one split, and
`Split`, one split as every model reads it (teachers, the student, the filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from toolkit.config import SplitSpec
from toolkit.errors import DataError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """One split's rendered inputs and label indices; `rows` holds the structured fields for tabular teachers."""

    texts: Sequence[str]
    labels: Sequence[int]
    teacher_probs: np.ndarray | None = None
    rows: pd.DataFrame | None = None


def min_rows_per_class(spec: SplitSpec) -> int:
    """Rows a class needs so that every split sees it at least once."""
    return max(3, int(np.ceil(1.0 / min(spec.validation, spec.test))))


def _check_class_sizes(labels: pd.Series, spec: SplitSpec) -> None:
    needed = min_rows_per_class(spec)
    counts = labels.value_counts()
    small = counts[counts < needed]
    if not small.empty:
        listed = ", ".join(f"{label!r} has {n}" for label, n in small.items())
        raise DataError(
            f"classes too small to split: {listed}; each class needs at least {needed} rows "
            f"for a {spec.validation:.0%} validation / {spec.test:.0%} test split",
            hint="add rows for these classes, merge them into a neighbour, or drop them explicitly",
        )


def split_frame(frame: pd.DataFrame, spec: SplitSpec, group_column: str | None = None) -> dict[str, pd.DataFrame]:
    """Split a canonical frame into train / validation / test, stratified on `label`.

    With `group_column`, all rows of a group land in one split (stratification then holds only approximately).

    >>> parts = split_frame(frame, SplitSpec(seed=13))  # doctest: +SKIP
    >>> sorted(parts)  # doctest: +SKIP
    ['test', 'train', 'validation']
    """
    if "split" in frame.columns:  # the user's own assignment wins
        return {name: frame[frame["split"] == name].reset_index(drop=True) for name in SPLITS}
    _check_class_sizes(frame["label"], spec)
    if group_column is None:
        # Whole-row counts from the full size, so a 15% share is 15% of the data, not of what is left.
        n_test, n_validation = round(len(frame) * spec.test), round(len(frame) * spec.validation)
        rest, test = train_test_split(frame, test_size=n_test, stratify=frame["label"], random_state=spec.seed)
        train, validation = train_test_split(
            rest, test_size=n_validation, stratify=rest["label"], random_state=spec.seed
        )
    else:
        rest, test = _group_holdout(frame, spec.test, group_column, spec.seed)
        train, validation = _group_holdout(rest, spec.validation / (1.0 - spec.test), group_column, spec.seed)
    return {name: part.reset_index(drop=True) for name, part in zip(SPLITS, (train, validation, test), strict=True)}


def _group_holdout(
    frame: pd.DataFrame, share: float, group_column: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_folds = max(2, int(round(1.0 / share)))
    groups = frame[group_column]
    if groups.nunique() < n_folds:
        raise DataError(
            f"column {group_column!r}: {groups.nunique()} groups cannot make a {share:.0%} hold-out "
            f"(at least {n_folds} groups needed)"
        )
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    keep_index, holdout_index = next(folds.split(frame, frame["label"], groups))
    return frame.iloc[keep_index], frame.iloc[holdout_index]
