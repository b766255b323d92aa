"""Preference pairs for the reward model: the user's (human) pairs from a JSONL file, and pairs built from teacher
agreement. A pair says, for a label, which of two texts is the better example of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from toolkit.config import PackConfig
from toolkit.errors import DataError

PAIR_KEYS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class PreferencePair:
    label: str
    chosen: str
    rejected: str
    source: str  # "human", "agreement" (teachers vs gold labels) or "generated" (real text vs a generated one)


def reward_input(prompt: str, text: str) -> str:
    """What the reward model reads: the label's prompt, then the text."""
    return f"{prompt} || {text}"


def read_preferences(path: Path, config: PackConfig) -> list[PreferencePair]:
    """Human pairs from JSONL; each line names its label (`label`) or starts its `prompt` with `A case labeled X`.

    Errors name the file, the line and the key, and say what is allowed.
    """
    if not path.is_file():
        raise DataError(f"{path}: preference file not found", hint="give a JSONL file of {prompt, chosen, rejected}")
    names = config.label_names
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object with keys {list(PAIR_KEYS)}")
        for key in PAIR_KEYS:
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise DataError(f"{where}: key `{key}` is missing or empty", hint=f"each line needs {list(PAIR_KEYS)}")
        label = record.get("label") or _label_from_prompt(record["prompt"], names)
        if label not in names:
            raise DataError(
                f"{where}: key `label`: {label!r} is not one of the pack's labels {names}",
                hint="add a `label` key, or start the prompt with `A case labeled <label>:`",
            )
        if record["chosen"].strip() == record["rejected"].strip():
            raise DataError(f"{where}: `chosen` and `rejected` are the same text")
        pairs.append(PreferencePair(label, record["chosen"].strip(), record["rejected"].strip(), "human"))
    if not pairs:
        raise DataError(f"{path}: no preference pairs in the file")
    return pairs


def _label_from_prompt(prompt: str, names: Sequence[str]) -> str | None:
    head = prompt.removeprefix("A case labeled ").split(":", 1)[0].strip()
    return head if head in names else None


def agreement_pairs(
    texts: Sequence[str],
    labels: np.ndarray,
    ensemble: np.ndarray,
    label_names: Sequence[str],
    n_pairs: int,
    seed: int,
) -> list[PreferencePair]:
    """Pairs built without a human: for a label, a text whose gold label the teachers agree with confidently is
    preferred over a text of the same gold label that they contradict or are unsure of (the low end of the
    ensemble's probability for that label)."""
    rng = np.random.default_rng(seed)
    own = ensemble[np.arange(len(labels)), labels]
    agrees = ensemble.argmax(axis=1) == labels
    pairs: list[PreferencePair] = []
    per_label = max(1, n_pairs // len(label_names))
    for k, name in enumerate(label_names):
        members = np.flatnonzero(labels == k)
        if len(members) < 4:
            continue
        order = members[np.argsort(own[members])]
        quarter = max(1, len(order) // 4)
        good = [i for i in order[-quarter:] if agrees[i]]
        poor = order[:quarter]
        if not good:
            continue
        for _ in range(per_label):
            chosen, rejected = int(rng.choice(good)), int(rng.choice(poor))
            if own[chosen] > own[rejected] and texts[chosen] != texts[rejected]:
                pairs.append(PreferencePair(name, texts[chosen], texts[rejected], "agreement"))
    return pairs


def generated_pairs(
    texts: Sequence[str], labels: Sequence[str], generated: Sequence[str], generated_labels: Sequence[str], seed: int
) -> list[PreferencePair]:
    """A real text of a label preferred over one the (SFT) generator wrote for that label: teaches the reward model
    what a plausible case looks like, so that PPO cannot please it with fluent-looking noise."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    pairs = []
    for text, label in zip(generated, generated_labels, strict=True):
        real = texts[int(rng.choice(by_label[label]))] if by_label.get(label) else None
        if real is not None and text.strip() and text != real:
            pairs.append(PreferencePair(label, real, text, "generated"))
    return pairs


def split_pairs(
    pairs: list[PreferencePair], held_out: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out) pairs; each source is split separately so both are measured."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for source in sorted({p.source for p in pairs}):
        members = [p for p in pairs if p.source == source]
        order = rng.permutation(len(members))
        cut = max(1, int(round(len(members) * held_out))) if len(members) > 1 else 0
        test += [members[i] for i in order[:cut]]
        train += [members[i] for i in order[cut:]]
    return train, test


def pairs_to_records(pairs: Sequence[PreferencePair]) -> list[dict]:
    return [asdict(p) for p in pairs]
