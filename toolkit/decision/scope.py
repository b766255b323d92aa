"""Out of scope: inputs unlike anything the model was trained on are referred with the reason, whatever its
confidence (a model is often surest exactly where it has never been).

Fitted on the training split's free text and fields; three checks, each in words a reviewer can act on:
    unknown_words    most of the text's words never occur in training (another language, gibberish, jargon)
    unseen_script    many of its letters are in a writing system absent from training (e.g. CJK, Cyrillic)
    no_fields        none of the pack's structured fields (e.g. no vitals at all) where training rows nearly
                     always had some
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.config import ScopeSpec

WORD = re.compile(r"[^\W\d_]+")
FIELDS_EXPECTED = 0.9  # share of training rows with a field above which a row without any is out of scope
MIN_SCRIPT_LETTERS = 5  # letters of a script that training must hold for the script to count as seen


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text or "")]


def script(letter: str) -> str:
    """The writing system of a letter, from its Unicode name: LATIN, CYRILLIC, CJK, ARABIC, ..."""
    return unicodedata.name(letter, "UNKNOWN").split(" ")[0]


def _letters(text: str) -> list[str]:
    return [c for c in text or "" if c.isalpha()]


@dataclass(frozen=True)
class ScopeModel:
    """What training looked like: its vocabulary, its scripts, how often its rows carried fields."""

    spec: ScopeSpec
    vocabulary: frozenset[str]
    scripts: frozenset[str]
    field_names: tuple[str, ...]
    field_presence: float  # share of training rows with at least one field

    @classmethod
    def fit(cls, texts: Sequence[str], fields: pd.DataFrame | None, spec: ScopeSpec) -> ScopeModel:
        """From the training split's free texts and its field columns (None or empty: a pack without fields).

        >>> m = ScopeModel.fit(["card payment at a shop"], None, ScopeSpec())
        >>> m.reasons(["kartla ödeme yapıldı bugün"], None)
        ['unknown_words: 4 of 4 words never seen in training']
        """
        counts = Counter(script(c) for t in texts for c in _letters(t))
        names = tuple(fields.columns) if fields is not None else ()
        presence = float(fields.notna().any(axis=1).mean()) if names and len(fields) else 0.0
        return cls(
            spec,
            frozenset(w for t in texts for w in words(t)),
            frozenset(s for s, n in counts.items() if n >= MIN_SCRIPT_LETTERS),
            names,
            presence,
        )

    def reason(self, text: str, fields: Mapping[str, object] | None) -> str | None:
        """Why one row is out of scope, or None when it is in scope."""
        spec = self.spec
        if not spec.enabled:
            return None
        letters = _letters(text)
        unseen = [c for c in letters if script(c) not in self.scripts]
        if letters and len(unseen) / len(letters) > spec.max_unseen_script:
            shown = ", ".join(sorted({script(c) for c in unseen}))
            return f"unseen_script: {len(unseen)} of {len(letters)} letters in a script absent from training ({shown})"
        found = words(text)
        unknown = [w for w in found if w not in self.vocabulary]
        if len(found) >= spec.min_words and len(unknown) / len(found) > spec.max_unknown_words:
            return f"unknown_words: {len(unknown)} of {len(found)} words never seen in training"
        if spec.require_fields and self.field_names and self.field_presence >= FIELDS_EXPECTED:
            values = fields or {}
            if all(_missing(values.get(name)) for name in self.field_names):
                return (
                    f"no_fields: none of {', '.join(self.field_names)} given, while {self.field_presence:.0%} "
                    "of training rows had some"
                )
        return None

    def reasons(self, texts: Sequence[str], fields: pd.DataFrame | None) -> list[str | None]:
        """`reason` for every row; `fields` holds the rows' field columns (None: no fields at all)."""
        records = fields.to_dict("records") if fields is not None else [None] * len(texts)
        return [self.reason(t, r) for t, r in zip(texts, records, strict=True)]

    def to_dict(self) -> dict:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "vocabulary": sorted(self.vocabulary),
            "scripts": sorted(self.scripts),
            "field_names": list(self.field_names),
            "field_presence": self.field_presence,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScopeModel:
        return cls(
            ScopeSpec.model_validate(data["spec"]),
            frozenset(data["vocabulary"]),
            frozenset(data["scripts"]),
            tuple(data["field_names"]),
            float(data["field_presence"]),
        )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value == ""
