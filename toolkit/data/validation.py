"""Check a user's table against a pack's data contract and turn it into the canonical frame.

The canonical frame has columns `id`, `text`, `label` (label names), `group` (when the pack declares one) and one
column per structured field. Nothing is dropped silently: every dropped row is listed with its reason.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from toolkit.config import PackConfig
from toolkit.data.rendering import render_frame
from toolkit.errors import DataError

MAX_ERRORS_SHOWN = 20


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


@dataclass
class ValidationReport:
    source: str
    rows_read: int = 0
    rows_kept: int = 0
    issues: list[Issue] = field(default_factory=list)

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


def validate_frame(raw: pd.DataFrame, config: PackConfig, source: str | Path) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate `raw` (as read from the user's file) and return the canonical frame and the report.

    Errors are collected for every row; call `report.raise_if_errors()` to stop on them.
    """
    source = str(source)
    report = ValidationReport(source=source, rows_read=len(raw))
    columns = config.columns
    required = [columns.text, columns.label] + [f.name for f in columns.fields if f.required]
    if columns.group:
        required.append(columns.group)
    missing = [c for c in required if c not in raw.columns]
    if missing:
        for name in missing:
            report.issues.append(
                Issue(
                    "error",
                    f"missing column {name!r}; columns found: {list(raw.columns)}; "
                    f"the {config.name} pack needs: {required}",
                    column=name,
                )
            )
        return pd.DataFrame(), report

    labels = config.label_names
    out = pd.DataFrame({"text": raw[columns.text].astype("string"), "label": raw[columns.label]})
    out["id"] = (
        raw[columns.id].astype(str)
        if columns.id and columns.id in raw.columns
        else [str(i + 1) for i in range(len(raw))]
    )
    if columns.group:
        out["group"] = raw[columns.group].astype(str)

    bad_rows: set[int] = set()
    for i, value in enumerate(raw[columns.text]):
        if _is_missing(value):
            report.issues.append(Issue("error", "empty text", row=i + 1, column=columns.text))
            bad_rows.add(i)
    for i, value in enumerate(raw[columns.label]):
        if _is_missing(value):
            report.issues.append(
                Issue("error", f"missing label; allowed: {', '.join(labels)}", row=i + 1, column=columns.label)
            )
            bad_rows.add(i)
        elif str(value).strip() not in labels:
            report.issues.append(
                Issue(
                    "error",
                    f"unknown label {str(value)!r}; allowed: {', '.join(labels)}{_closest(str(value), labels)}",
                    row=i + 1,
                    column=columns.label,
                )
            )
            bad_rows.add(i)
    out["label"] = raw[columns.label].astype(str).str.strip()

    for spec in columns.fields:
        if spec.name not in raw.columns:
            out[spec.name] = None
            continue
        values = raw[spec.name]
        if spec.type == "category":
            out[spec.name] = values.astype("string")
            for i, value in enumerate(values):
                if _is_missing(value):
                    if spec.required:
                        report.issues.append(Issue("error", "missing value", row=i + 1, column=spec.name))
                        bad_rows.add(i)
                elif spec.allowed and str(value) not in spec.allowed:
                    report.issues.append(
                        Issue(
                            "error",
                            f"value {str(value)!r} not allowed; allowed: {', '.join(spec.allowed)}"
                            f"{_closest(str(value), spec.allowed)}",
                            row=i + 1,
                            column=spec.name,
                        )
                    )
                    bad_rows.add(i)
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        for i, (value, number) in enumerate(zip(values, numbers, strict=True)):
            if _is_missing(value):
                if spec.required:
                    report.issues.append(Issue("error", f"missing {spec.type} value", row=i + 1, column=spec.name))
                    bad_rows.add(i)
            elif pd.isna(number):
                report.issues.append(
                    Issue(
                        "error", f"{str(value)!r} is not a number ({spec.type} expected)", row=i + 1, column=spec.name
                    )
                )
                bad_rows.add(i)
            elif spec.type == "int" and not float(number).is_integer():
                report.issues.append(
                    Issue("error", f"{value!r} is not a whole number (int expected)", row=i + 1, column=spec.name)
                )
                bad_rows.add(i)
        out[spec.name] = numbers.astype(float)

    if report.errors:
        return pd.DataFrame(), report

    out = out.reset_index(drop=True)
    out["row"] = range(1, len(out) + 1)
    out = _drop_duplicates(out, report, config)
    report.rows_kept = len(out)
    return out.reset_index(drop=True), report


def _drop_duplicates(frame: pd.DataFrame, report: ValidationReport, config: PackConfig) -> pd.DataFrame:
    """Exact repeats of the rendered input (text + fields) are dropped and listed; two labels for one input is an
    error. Rendered, not raw, text is the key: "chest pain" with two different sets of vitals is two cases."""
    text_column = config.columns.text
    key = [t.strip().lower() for t in render_frame(frame, config.columns.fields)]
    keep = pd.Series(True, index=frame.index)
    first_row_of: dict[str, int] = {}
    label_of: dict[str, str] = {}
    for index, (k, label, row) in enumerate(zip(key, frame["label"], frame["row"], strict=True)):
        if k not in first_row_of:
            first_row_of[k], label_of[k] = row, label
            continue
        if label_of[k] != label:
            report.issues.append(
                Issue(
                    "error",
                    f"same text as row {first_row_of[k]} but label {label!r} instead of "
                    f"{label_of[k]!r}; fix one of them",
                    row=row,
                    column=text_column,
                )
            )
        else:
            report.issues.append(Issue("dropped", f"duplicate of row {first_row_of[k]}", row=row, column=text_column))
            keep.iloc[index] = False
    return frame[keep]


def load_and_validate(path: str | Path, config: PackConfig) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a file and validate it; raise DataError on the first error."""
    from toolkit.data.loading import read_table

    frame, report = validate_frame(read_table(path), config, path)
    report.raise_if_errors()
    return frame, report
