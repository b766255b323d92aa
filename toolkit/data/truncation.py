"""Which rendered inputs the student's tokenizer would cut at `student.max_length`, and which fields the cut loses.

A model never sees what lies past its last token: a long complaint rendered before the vitals would silently drop
HR, SpO2 and blood pressure. Fields go first for long texts (`render.fields_first_above`); this check says what is
still lost, before any model is trained.

>>> issue = truncation_issue(frame, config, load_tokenizer("minilm"))  # doctest: +SKIP
>>> issue.message  # doctest: +SKIP
'37 of 2,400 rows are longer than student.max_length (128 tokens) and are cut; fields lost: HR in 5 rows ...'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from toolkit.config import PackConfig
from toolkit.data.rendering import render_field

ROWS_NAMED = 8


@dataclass(frozen=True)
class Truncation:
    rows: int  # rows longer than max_length
    lost: dict[str, int]  # field label -> rows where the cut falls on or before it
    message: str


def cut_position(text: str, tokenizer: Any, max_length: int) -> int | None:
    """The character offset where the model's input ends, or None when `text` fits in `max_length` tokens."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    kept = max_length - tokenizer.num_special_tokens_to_add()
    offsets = encoded["offset_mapping"]
    if len(offsets) <= kept:
        return None
    return int(offsets[kept - 1][1]) if kept > 0 else 0


def truncation_issue(frame: pd.DataFrame, config: PackConfig, tokenizer: Any) -> Truncation | None:
    """What the student would cut of a validated frame's rendered inputs; None if every row fits."""
    max_length = config.student.max_length
    fields = config.columns.fields
    cut_rows: list[int] = []
    lost: Counter[str] = Counter()
    for position, text in enumerate(frame["input"]):
        cut = cut_position(str(text), tokenizer, max_length)
        if cut is None:
            continue
        cut_rows.append(int(frame["row"].iloc[position]))
        for spec in fields:
            fragment = render_field(frame[spec.name].iloc[position], spec) if spec.name in frame.columns else None
            start = str(text).find(fragment) if fragment else -1
            if start >= 0 and start + len(fragment) > cut:
                lost[spec.label or spec.name] += 1
    if not cut_rows:
        return None
    named = ", ".join(map(str, cut_rows[:ROWS_NAMED])) + (" ..." if len(cut_rows) > ROWS_NAMED else "")
    what = (
        "fields lost past the cut: " + ", ".join(f"{name} in {n:,} rows" for name, n in lost.most_common())
        if lost
        else "only free text is lost, no field"
    )
    message = (
        f"{len(cut_rows):,} of {len(frame):,} rows are longer than student.max_length ({max_length} tokens) and are "
        f"cut; {what} (rows {named})"
    )
    return Truncation(len(cut_rows), dict(lost), message)
