"""Selection keeps and rejects as configured, and never lets a near copy of a validation / test text through."""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.config import SelectionSpec
from toolkit.filtering.label_issues import find_label_issues
from toolkit.filtering.selection import Reference, SimilarityIndex, select

TEST_TEXT = "Wire transfer to a newly opened account abroad; customer unreachable | amount 9,800 USD (large)"
TRAIN_TEXT = "Card payment at a grocery store, matches the usual weekly shopping | amount 84.2 USD (small)"


def candidates(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate_id": [f"c{i}" for i in range(len(texts))],
            "source": "generated",
            "input": texts,
            "label_hint": "low",
        }
    )


def reward_by_position(batch: pd.DataFrame) -> pd.DataFrame:
    """A transparent scorer: the reward is the candidate's number, so the top share is known in advance."""
    n = batch["candidate_id"].str[1:].astype(int).to_numpy()
    return pd.DataFrame({"reward": n.astype(float), "confidence": np.full(len(n), 0.9), "label": "low"})


def distinct(i: int) -> str:
    words = ["salary", "rent", "travel", "invoice", "pharmacy", "tuition", "supplier", "savings", "utility", "loan"]
    return f"{words[i % 10]} payment number {i} routed through branch {i * 7 % 13} with reference {i * 31:05d}"


def test_copies_and_leaks_are_rejected_with_their_reason():
    texts = [
        TEST_TEXT,  # exact copy of a test text
        TEST_TEXT.replace("9,800", "9,900"),  # near copy of a test text
        TRAIN_TEXT,  # copy of a training text
        distinct(3),
        distinct(3).upper(),  # exact duplicate (up to case) of the previous candidate
        distinct(3) + ".",  # near duplicate
        "",
        distinct(7),
    ]
    kept, rejected = select(
        candidates(texts),
        reward_by_position,
        Reference(train=[TRAIN_TEXT], held_out=[TEST_TEXT]),
        SelectionSpec(batch_size=1024, keep_share=1.0, near_duplicate=0.9),
        cap=100,
    )
    reasons = dict(zip(rejected["candidate_id"], rejected["reason"], strict=True))
    assert reasons["c0"].startswith("too close to a validation / test text")
    assert reasons["c1"].startswith("too close to a validation / test text")
    assert reasons["c2"].startswith("copy of a training text")
    assert reasons["c4"] == "exact duplicate of candidate c3"
    assert reasons["c5"].startswith("near duplicate of candidate c3")
    assert reasons["c6"] == "empty text"
    assert sorted(kept["candidate_id"]) == ["c3", "c7"]
    assert len(kept) + len(rejected) == len(texts)


def test_top_share_per_batch_and_the_cap():
    texts = [distinct(i) for i in range(20)]
    kept, rejected = select(
        candidates(texts),
        reward_by_position,
        Reference(train=[TRAIN_TEXT], held_out=[TEST_TEXT]),
        SelectionSpec(batch_size=8, keep_share=0.5, near_duplicate=0.95),
        cap=100,
    )
    # batches c0-c7, c8-c15, c16-c19: the upper half of each batch by reward
    assert sorted(kept["candidate_id"], key=lambda c: int(c[1:])) == [
        f"c{i}" for i in (4, 5, 6, 7, 12, 13, 14, 15, 18, 19)
    ]
    assert set(kept["batch"]) == {1, 2, 3}
    assert rejected["reason"].str.startswith("below this batch's cut").all()
    capped, over = select(
        candidates(texts),
        reward_by_position,
        Reference(train=[], held_out=[]),
        SelectionSpec(batch_size=8, keep_share=1.0),
        cap=5,
    )
    assert len(capped) == 5 and (over["reason"] == "over the cap of 5 added samples").sum() == 15


def test_no_kept_text_is_a_near_copy_of_a_held_out_text():
    rng = np.random.default_rng(0)
    held = [distinct(i) for i in range(30)]
    # candidates: light edits of held-out texts mixed with new ones
    texts = [t.replace("payment", rng.choice(["payment", "paymnt", "Payment"])) for t in held] + [
        distinct(i) for i in range(100, 140)
    ]
    spec = SelectionSpec(batch_size=16, keep_share=1.0, near_duplicate=0.9)
    kept, _ = select(candidates(texts), reward_by_position, Reference(train=[], held_out=held), spec, cap=1000)
    index = SimilarityIndex(held + texts)
    _, cosine = SimilarityIndex.nearest(index.vectors(kept["input"].tolist()), index.vectors(held))
    assert {f"c{i}" for i in range(30, 70)} <= set(kept["candidate_id"])  # every new text survives
    assert (cosine < 0.9).all()  # and no kept one is a near copy of a held-out text


def test_label_issues_flag_the_confidently_contradicted_rows():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 10)
    probs = np.full((30, 3), 0.05)
    probs[np.arange(30), labels] = 0.9
    probs += rng.uniform(0, 0.02, size=probs.shape)
    flipped = {4: 2, 15: 0, 27: 1}  # gold label says one thing, the teachers say clearly another
    for row, other in flipped.items():
        probs[row] = 0.05
        probs[row, other] = 0.9
    unsure = 8  # the teachers are unsure: not flagged
    probs[unsure] = [0.4, 0.35, 0.25]
    probs /= probs.sum(axis=1, keepdims=True)
    issues = find_label_issues(labels, probs, ["low", "medium", "high"])
    assert sorted(issues["position"]) == sorted(flipped)
    row = issues.set_index("position").loc[15]
    assert (row["given_label"], row["suggested_label"]) == ("medium", "low")
    assert issues["given_probability"].is_monotonic_increasing
