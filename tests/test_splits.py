"""Train / validation / test splits are stratified, disjoint, complete and reproducible."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.config import SplitSpec
from toolkit.data.splits import split_frame
from toolkit.errors import DataError


def frame(counts: dict[str, int], groups: int | None = None) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    out = pd.DataFrame(
        {"id": [str(i) for i in range(len(labels))], "text": [f"t{i}" for i in range(len(labels))], "label": labels}
    )
    if groups:
        out["group"] = [f"g{i % groups}" for i in range(len(out))]
    return out


def test_splits_are_disjoint_and_cover_every_row() -> None:
    parts = split_frame(frame({"a": 300, "b": 100}), SplitSpec())
    ids = [set(p["id"]) for p in parts.values()]
    assert sum(len(s) for s in ids) == 400
    assert ids[0].isdisjoint(ids[1]) and ids[0].isdisjoint(ids[2]) and ids[1].isdisjoint(ids[2])


def test_split_sizes_follow_the_shares() -> None:
    parts = split_frame(frame({"a": 300, "b": 100}), SplitSpec(validation=0.15, test=0.15))
    assert len(parts["test"]) == 60
    assert len(parts["validation"]) == 60
    assert len(parts["train"]) == 280


def test_each_split_keeps_the_class_balance() -> None:
    parts = split_frame(frame({"a": 300, "b": 100}), SplitSpec())
    for part in parts.values():
        assert part["label"].eq("b").mean() == pytest.approx(0.25, abs=0.02)


def test_same_seed_same_split_other_seed_other_split() -> None:
    data = frame({"a": 300, "b": 100})
    first = split_frame(data, SplitSpec(seed=13))["test"]["id"].tolist()
    assert first == split_frame(data, SplitSpec(seed=13))["test"]["id"].tolist()
    assert first != split_frame(data, SplitSpec(seed=14))["test"]["id"].tolist()


def test_too_small_class_is_named() -> None:
    with pytest.raises(DataError, match=r"'rare' has 2"):
        split_frame(frame({"common": 100, "rare": 2}), SplitSpec())


def test_groups_never_straddle_splits() -> None:
    parts = split_frame(frame({"a": 300, "b": 100}, groups=40), SplitSpec(), group_column="group")
    groups = [set(p["group"]) for p in parts.values()]
    assert groups[0].isdisjoint(groups[1]) and groups[0].isdisjoint(groups[2]) and groups[1].isdisjoint(groups[2])
    assert sum(len(p) for p in parts.values()) == 400
