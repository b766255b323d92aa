"""Check a user's table against a pack's data contract and turn it into the canonical frame.

The canonical frame has columns `id`, `text`, `label` (label names), `group` (when the pack declares one) and one
column per structured field. Nothing is dropped silently: every dropped row is listed with its reason.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.config import FieldSpec, PackConfig
from toolkit.data.column_map import apply_input_map
from toolkit.data.loading import read_table
from toolkit.data.rendering import render_frame
from toolkit.data.splits import SPLITS as SPLIT_NAMES
from toolkit.data.splits import min_rows_per_class
from toolkit.data.truncation import truncation_issue
from toolkit.errors import DataError


@dataclass(frozen=True)
class Issue:
    """One finding: `row` is 1-based over data rows (header not counted); None for whole-file findings."""

    severity: str  # "error" | "warning" | "dropped"
    message: str
    row: int | None = None
    column: str | None = None

    def describe(self, source: str) -> str:
        where = source
        if self.row is not None:
            where += f": row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


SEPARATOR_NAMES = {";": "`;`", "\t": "tab", "|": "`|`"}


@dataclass
class ValidationReport:
    source: str
    rows_read: int = 0
    rows_kept: int = 0
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=dict)  # rows cut at max_length: "rows", then per field lost

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def dropped(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "dropped"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "notes": self.notes,
            "truncated": self.truncated,
            "issues": [asdict(i) for i in self.issues],
        }

    def raise_if_errors(self) -> None:
        """Raise one DataError naming the first problem, the count of the others and how to see them all."""
        if not self.errors:
            return
        first = self.errors[0].describe(self.source)
        more = len(self.errors) - 1
        hint = f"{more} more error(s); `domain-distill validate` lists them all" if more else None
        raise DataError(first, hint=hint)


def _closest(value: str, allowed: list[str]) -> str:
    by_case = {a.lower(): a for a in allowed}
    if value.strip().lower() in by_case:
        return f" (did you mean {by_case[value.strip().lower()]!r}?)"
    match = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
    return f" (closest: {match[0]!r})" if match else ""


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == ""


def validate_frame(
    raw: pd.DataFrame, config: PackConfig, source: str | Path, labeled: bool = True
) -> tuple[pd.DataFrame, ValidationReport, PackConfig]:
    """Validate `raw` (as read from the user's file) and return the canonical frame (with the rendered model
    input in column `input`), the report and the config
    with the user's column map applied (it may add a group or split column). `labeled=False` checks an
    unlabeled pool: same contract, no label column.

    Errors are collected for every row; call `report.raise_if_errors()` to stop on them.
    """
    source = str(source)
    report = ValidationReport(source=source, rows_read=len(raw))
    separator = raw.attrs.get("separator", ",")
    if separator != ",":
        report.notes.append(f"read as {SEPARATOR_NAMES.get(separator, repr(separator))}-separated")
    raw, config, notes = apply_input_map(raw, config, source)
    report.notes.extend(notes)
    columns = config.columns
    required = [columns.text] + ([columns.label] if labeled else []) + [f.name for f in columns.fields if f.required]
    required += [c for c in (columns.group, columns.split) if c]
    missing = [c for c in required if c not in raw.columns]
    for name in missing:
        report.issues.append(
            Issue(
                "error",
                f"missing column {name!r}; columns found: {list(raw.columns)}; "
                f"the {config.name} pack needs: {required}",
                column=name,
            )
        )
    if missing:
        return pd.DataFrame(), report, config
    known = set(required) | {f.name for f in columns.fields} | {c for c in (columns.id,) if c}
    for name in [c for c in raw.columns if c not in known]:
        report.issues.append(Issue("warning", "column not used by the pack (ignored)", column=name))
    for spec in columns.fields:
        if spec.name not in raw.columns:
            report.issues.append(Issue("warning", "optional column absent; rendered without it", column=spec.name))

    out = pd.DataFrame({"text": raw[columns.text].astype("string")})
    out["id"] = (
        raw[columns.id].astype(str)
        if columns.id and columns.id in raw.columns
        else [str(i + 1) for i in range(len(raw))]
    )
    if columns.group:
        out["group"] = raw[columns.group].astype(str)

    bad_rows: set[int] = set()
    check_texts(raw[columns.text], config, report, bad_rows)
    out["label"] = _check_labels(raw[columns.label], config, report, bad_rows) if labeled else "(unlabeled)"
    if columns.split:
        out["split"] = raw[columns.split].astype(str).str.strip().str.lower()
        for i, value in enumerate(out["split"]):
            if value not in SPLIT_NAMES:
                report.issues.append(
                    Issue(
                        "error",
                        f"split {value!r} not allowed; allowed: {', '.join(SPLIT_NAMES)}",
                        row=i + 1,
                        column=columns.split,
                    )
                )
    for spec in columns.fields:
        out[spec.name] = check_field(raw, spec, report, bad_rows)

    if report.errors:
        return pd.DataFrame(), report, config
    out["row"] = range(1, len(out) + 1)
    unlabeled = out["label"].isna()
    out = out[~unlabeled].reset_index(drop=True)
    # the model's input, rendered once here: the duplicate check keys on it and every later stage reads it
    out["input"] = render_frame(out, config.columns.fields, config.render)
    out = _drop_duplicates(out, report, config)
    if labeled:
        _check_class_balance(out, config, report)
    report.rows_kept = len(out)
    return out.reset_index(drop=True), report, config


def check_texts(values: pd.Series, config: PackConfig, report: ValidationReport, bad_rows: set[int]) -> None:
    """Empty texts and texts over `data_rules.max_text_chars` are errors of their row."""
    limit, column = config.data_rules.max_text_chars, config.columns.text
    for i, value in enumerate(values):
        if _is_missing(value):
            report.issues.append(Issue("error", "empty text", row=i + 1, column=column))
            bad_rows.add(i)
        elif len(str(value)) > limit:
            report.issues.append(
                Issue(
                    "error",
                    f"text of {len(str(value)):,} characters; at most {limit:,} allowed (data_rules.max_text_chars)",
                    row=i + 1,
                    column=column,
                )
            )
            bad_rows.add(i)


def _check_labels(values: pd.Series, config: PackConfig, report: ValidationReport, bad_rows: set[int]) -> list:
    """Labels after the user's spelling map; empty labels are errors unless `input_map.drop_unlabeled` is set."""
    labels = config.label_names
    spelling = config.input_map.labels
    lowered = {k.strip().lower(): v for k, v in spelling.items()}
    column = config.columns.label
    result: list[str | None] = []
    for i, value in enumerate(values):
        if _is_missing(value):
            if config.input_map.drop_unlabeled:
                report.issues.append(
                    Issue("dropped", "no label (input_map.drop_unlabeled is on)", row=i + 1, column=column)
                )
            else:
                report.issues.append(
                    Issue(
                        "error",
                        f"missing label; allowed: {', '.join(labels)} (to drop unlabeled rows, each listed in the "
                        "report: --drop-unlabeled, or DROP_UNLABELED = True in a notebook)",
                        row=i + 1,
                        column=column,
                    )
                )
                bad_rows.add(i)
            result.append(None)
            continue
        text = _label_text(value)
        mapped = spelling.get(text, lowered.get(text.lower(), text))
        if mapped not in labels:
            hint = _closest(text, labels) if not spelling else f" (label map covers: {', '.join(spelling)})"
            report.issues.append(
                Issue("error", f"unknown label {text!r}; allowed: {', '.join(labels)}{hint}", row=i + 1, column=column)
            )
            bad_rows.add(i)
        result.append(mapped)
    return result


def _label_text(value: object) -> str:
    # JSONL and Parquet give numbers (ESI 3 may arrive as 3.0); a label map is written with "3".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def check_field(raw: pd.DataFrame, spec: FieldSpec, report: ValidationReport, bad_rows: set[int]) -> pd.Series:
    """One structured field's values (numbers as floats), with an error per row whose value breaks the contract: a
    missing required value, a category not allowed, a number that is not finite (`inf`, `nan`), not whole for an
    int, or outside the field's plausible `min` / `max`."""
    if spec.name not in raw.columns:
        return pd.Series([None] * len(raw), dtype=object)
    values = raw[spec.name]

    def refuse(i: int, message: str) -> None:
        report.issues.append(Issue("error", message, row=i + 1, column=spec.name))
        bad_rows.add(i)

    if spec.type == "category":
        for i, value in enumerate(values):
            if _is_missing(value):
                if spec.required:
                    refuse(i, "missing value")
            elif spec.allowed and str(value) not in spec.allowed:
                refuse(
                    i,
                    f"value {str(value)!r} not allowed; allowed: {', '.join(spec.allowed)}"
                    f"{_closest(str(value), spec.allowed)}",
                )
        return values.astype("string")
    numbers = pd.to_numeric(values, errors="coerce")
    for i, (value, number) in enumerate(zip(values, numbers, strict=True)):
        if _is_missing(value):
            if spec.required:
                refuse(i, f"missing {spec.type} value")
        elif pd.isna(number):
            refuse(i, f"{str(value)!r} is not a number ({spec.type} expected)")
        elif not math.isfinite(number):
            refuse(i, f"{str(value)!r} is not a finite number ({spec.type} expected)")
        elif spec.type == "int" and not float(number).is_integer():
            refuse(i, f"{value!r} is not a whole number (int expected)")
        elif (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
            shown = str(value).strip() if isinstance(value, str) else f"{float(number):g}"
            refuse(
                i,
                f"{spec.name} {shown}{spec.unit} is outside the plausible range {plausible_range(spec)}{spec.unit} "
                f"(pack.yaml fields.{spec.name} min/max)",
            )
    return numbers.astype(float)


def plausible_range(spec: FieldSpec) -> str:
    """A field's `min` / `max` in words: `20–300`, `≥ 0` or `≤ 10`."""
    if spec.min is not None and spec.max is not None:
        return f"{spec.min:g}–{spec.max:g}"
    return f"≥ {spec.min:g}" if spec.min is not None else f"≤ {spec.max:g}"


def _check_class_balance(frame: pd.DataFrame, config: PackConfig, report: ValidationReport) -> None:
    counts = frame["label"].value_counts()
    needed = min_rows_per_class(config.split)
    for label in config.label_names:
        n = int(counts.get(label, 0))
        if n == 0:
            report.issues.append(
                Issue(
                    "warning",
                    f"class {label!r} has no rows; it can be neither learned nor measured",
                    column=config.columns.label,
                )
            )
        elif n < needed:
            report.issues.append(
                Issue(
                    "error",
                    f"class {label!r} has {n} row(s); at least {needed} are needed to "
                    f"split it {config.split.validation:.0%} / {config.split.test:.0%}",
                    column=config.columns.label,
                )
            )
    present = counts[counts > 0]
    if len(present) >= 2 and present.min() / present.max() < config.data_rules.imbalance_warning_ratio:
        report.issues.append(
            Issue(
                "warning",
                f"heavy imbalance: {present.idxmin()!r} has {present.min()} rows against "
                f"{present.max()} for {present.idxmax()!r}; consider class weights and read per-class recall",
                column=config.columns.label,
            )
        )


def _drop_duplicates(frame: pd.DataFrame, report: ValidationReport, config: PackConfig) -> pd.DataFrame:
    """Exact repeats of the rendered input (text + fields) are dropped and listed; two labels for one input is an
    error, or, with `input_map.drop_conflicting`, every row of that input is dropped and listed. Rendered, not raw,
    text is the key: "chest pain" with two different sets of vitals is two cases. With the user's own splits, a
    later split's copy of a case is dropped too (and said so): the same case in two splits inflates test figures,
    while a common complaint with other vitals is another patient."""
    text_column = config.columns.text
    key = [t.strip().lower() for t in frame["input"]]
    splits = frame["split"].tolist() if "split" in frame.columns else None
    keep = pd.Series(True, index=frame.index)
    first_of: dict[str, tuple[int, int, str]] = {}  # key -> (position, row, label)
    conflicted: set[str] = set()
    for position, (k, label, row) in enumerate(zip(key, frame["label"], frame["row"], strict=True)):
        if k not in first_of:
            first_of[k] = (position, row, label)
            continue
        first_position, first_row, first_label = first_of[k]
        if first_label == label and k not in conflicted:
            message = f"duplicate of row {first_row}"
            if splits is not None and splits[position] != splits[first_position]:  # the same case in two splits
                message += f" (in split {splits[first_position]!r}): dropped so that no case is in two splits"
            report.issues.append(Issue("dropped", message, row=row, column=text_column))
            keep.iloc[position] = False
        elif config.input_map.drop_conflicting:
            report.issues.append(
                Issue(
                    "dropped",
                    f"same text as row {first_row} with another label ({label!r} vs "
                    f"{first_label!r}); both dropped (input_map.drop_conflicting is on)",
                    row=row,
                    column=text_column,
                )
            )
            keep.iloc[position] = False
            if k not in conflicted:
                conflicted.add(k)
                keep.iloc[first_position] = False
                report.issues.append(
                    Issue(
                        "dropped",
                        f"label conflicts with row {row}; dropped (input_map.drop_conflicting is on)",
                        row=first_row,
                        column=text_column,
                    )
                )
        else:
            report.issues.append(
                Issue(
                    "error",
                    f"same input as row {first_row} but label {label!r} instead of {first_label!r}; fix one of them",
                    row=row,
                    column=text_column,
                )
            )
    if splits is not None:
        _warn_shared_free_text(frame, splits, report, text_column)
    return frame[keep]


def _warn_shared_free_text(frame: pd.DataFrame, splits: list, report: ValidationReport, text_column: str) -> None:
    """One warning for free texts that recur in another split with other fields: not leakage (the same complaint
    with other vitals is another patient), but worth a look in case a case was copied with edits."""
    first_of: dict[str, tuple[str, int, str]] = {}  # free text -> (split, row, rendered input)
    pairs: list[tuple[int, int]] = []
    for text, split, row, rendered in zip(frame["text"], splits, frame["row"], frame["input"], strict=True):
        key = str(text).strip().lower()
        if key not in first_of:
            first_of[key] = (split, row, rendered)
        elif first_of[key][0] != split and first_of[key][2].strip().lower() != str(rendered).strip().lower():
            pairs.append((first_of[key][1], row))
    if pairs:
        shown = ", ".join(f"rows {a} and {b}" for a, b in pairs[:5])
        report.issues.append(
            Issue(
                "warning",
                f"{len(pairs):,} rows share their free text with a row of another split, with other fields (e.g. "
                f"{shown}); kept: the input the model sees differs",
                column=text_column,
            )
        )


def check_truncation(frame: pd.DataFrame, config: PackConfig, report: ValidationReport, tokenizer: Any) -> None:
    """A warning naming how many rows the student's tokenizer cuts at `student.max_length`, and the fields lost."""
    if frame.empty:
        return
    found = truncation_issue(frame, config, tokenizer)
    if found is not None:
        report.issues.append(Issue("warning", found.message, column=config.columns.text))
        report.truncated = {"rows": found.rows, **found.lost}


def load_and_validate(path: str | Path, config: PackConfig) -> tuple[pd.DataFrame, ValidationReport, PackConfig]:
    """Read a file and validate it; raise DataError on the first error."""
    frame, report, config = validate_frame(read_table(path), config, path)
    report.raise_if_errors()
    return frame, report, config
