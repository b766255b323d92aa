"""Preference pairs: reading the user's file (errors name line and key), pairs from teacher agreement, splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.errors import DataError
from toolkit.filtering.pairs import agreement_pairs, generated_pairs, read_preferences, split_pairs
from toolkit.packs import load_pack


@pytest.fixture()
def config():
    return load_pack("finance_risk").config


def write_lines(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_template_preferences_read(config):
    pack = load_pack("finance_risk")
    pairs = read_preferences(pack.resolve_path(config.example_preferences), config)
    assert len(pairs) == 300
    assert {p.label for p in pairs} == {"low", "medium", "high"}
    assert all(p.source == "human" and p.chosen != p.rejected for p in pairs)


def test_label_taken_from_prompt_when_absent(tmp_path, config):
    path = write_lines(
        tmp_path / "p.jsonl", [{"prompt": "A case labeled high: escalate", "chosen": "a", "rejected": "b"}]
    )
    assert read_preferences(path, config)[0].label == "high"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", r"line 2: not valid JSON"),
        ({"prompt": "p", "chosen": "a"}, r"line 2: key `rejected` is missing or empty"),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "label": "severe"}, r"line 2: key `label`: 'severe' is not"),
        ({"prompt": "p", "chosen": "same", "rejected": "same", "label": "low"}, r"line 2: `chosen` and `rejected`"),
    ],
)
def test_bad_preference_lines_are_named(tmp_path, config, line, expected):
    good = {"prompt": "p", "chosen": "a", "rejected": "b", "label": "low"}
    path = write_lines(tmp_path / "p.jsonl", [good, line])
    with pytest.raises(DataError, match=expected):
        read_preferences(path, config)


def test_agreement_pairs_prefer_the_text_the_teachers_back():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    probs = rng.dirichlet([1, 1], size=40)
    texts = [f"text {i}" for i in range(40)]
    pairs = agreement_pairs(texts, labels, probs, ["a", "b"], n_pairs=20, seed=0)
    assert pairs and all(p.source == "agreement" for p in pairs)
    own = {t: probs[i, labels[i]] for i, t in enumerate(texts)}
    for pair in pairs:
        assert own[pair.chosen] > own[pair.rejected]
        k = ["a", "b"].index(pair.label)
        assert labels[texts.index(pair.chosen)] == k == labels[texts.index(pair.rejected)]
        assert probs[texts.index(pair.chosen)].argmax() == k


def test_generated_pairs_put_real_text_first():
    pairs = generated_pairs(["real a", "real b"], ["a", "b"], ["fake a", "", "fake b"], ["a", "a", "b"], seed=0)
    assert [(p.chosen, p.rejected) for p in pairs] == [("real a", "fake a"), ("real b", "fake b")]


def test_split_keeps_every_source_in_both_parts():
    texts = [f"t{i}" for i in range(40)]
    pairs = generated_pairs(texts[:20], ["a"] * 20, texts[20:], ["a"] * 20, seed=0)
    pairs += agreement_pairs(
        texts,
        np.zeros(40, dtype=int),
        np.tile([0.9, 0.1], (40, 1)) - np.linspace(0, 0.5, 40)[:, None] * [1, -1],
        ["a", "b"],
        10,
        0,
    )
    train, held = split_pairs(pairs, 0.25, seed=0)
    assert len(train) + len(held) == len(pairs)
    assert {p.source for p in train} == {p.source for p in held} == {"generated", "agreement"}
