"""Read a user's table from CSV, JSONL or Parquet: one reader for training, validation and `predict`, so that a file
gets the same errors whichever command reads it.

Before any row is read, `open_table` checks what real files get wrong: a spreadsheet saved under a `.csv` name, a
Windows code page instead of UTF-8, a byte-order mark (read, not kept in the first column's name), a `;` or tab
separator (detected and said), duplicate or blank column names.

>>> read_table("data_templates/finance_risk/example_labeled.csv").shape  # doctest: +SKIP
(800, 8)
>>> table = open_table("patients.csv")  # doctest: +SKIP
>>> for first_row, records, errors in table.chunks(1024): ...  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from toolkit.errors import DataError

FORMATS = {".csv": "CSV", ".jsonl": "JSONL", ".json": "JSONL", ".parquet": "Parquet", ".pq": "Parquet"}
SEPARATORS = (",", ";", "\t", "|")  # the first is the default; the others are what spreadsheets in many locales write
SNIFF_LINES = 50
MAX_ROW_ERRORS_SHOWN = 5
# A whole document in one cell is allowed through the reader; validation then names it (data_rules.max_text_chars).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

Chunk = tuple[
    int, list[dict | None], dict[int, str]
]  # first row number, records (None: unreadable), errors by position


@dataclass(frozen=True)
class TableFile:
    """A checked table file: its format, its columns and, for a CSV, its separator."""

    path: Path
    kind: str  # CSV | JSONL | Parquet
    columns: list[str]
    separator: str = ","

    def chunks(self, rows: int) -> Iterator[Chunk]:
        """Records `rows` at a time. A row that cannot be read (a CSV line with the wrong number of fields, a JSONL
        line that is not an object) is None, with its message by position; blank lines are skipped."""
        return _chunked((_csv_rows if self.kind == "CSV" else _jsonl_rows)(self), rows)


def open_table(path: str | Path, allowed: dict[str, str] = FORMATS) -> TableFile:
    """Check `path` and read its header; a file no reader can use raises DataError saying why and what to do."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found", hint="give the path of a CSV, JSONL or Parquet file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a CSV, JSONL or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(sorted(allowed))}")
    kind = allowed[suffix]
    if kind == "Parquet":
        return TableFile(path, kind, [])
    _check_text_file(path, kind)
    if kind == "JSONL":
        return TableFile(path, kind, [])
    separator, header = _csv_header(path)
    return TableFile(path, kind, header, separator)


def _check_text_file(path: Path, kind: str) -> None:
    """A text file in UTF-8 (a byte-order mark allowed), not a spreadsheet or other binary under a text name."""
    with path.open("rb") as handle:
        start = handle.read(8)
    if start.startswith(b"PK\x03\x04") or start.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(
            f"{path}: an Excel workbook, not a {kind} file (only its name ends in {path.suffix})",
            hint="in Excel: File > Save As > 'CSV UTF-8 (comma delimited)'",
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                line = newlines + block[: error.start].count(b"\n") + 1
                raise DataError(
                    f"{path}: not UTF-8 text (byte {offset + error.start:,}, line {line}: "
                    f"{block[error.start : error.start + 1]!r}); it looks like a Windows code page such as "
                    "cp1252 or cp1254",
                    hint="save the file as UTF-8 (Excel: 'CSV UTF-8'; or: iconv -f cp1254 -t utf-8 in.csv > out.csv)",
                ) from None
            if b"\x00" in block:
                raise DataError(f"{path}: holds NUL bytes, so it is not a {kind} text file")
            offset, newlines = offset + len(block), newlines + block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (it ends inside a character)", hint="save the file as UTF-8") from None


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """The separator (the default unless another splits the first lines evenly and it does not) and the header."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        head = "".join(line for _, line in zip(range(SNIFF_LINES), handle, strict=False))
    if not head.strip():
        raise DataError(f"{path}: empty file; expected a header row and data rows")
    widths = {}
    for separator in SEPARATORS:
        rows = [row for row in csv.reader(io.StringIO(head), delimiter=separator) if row]
        counts = {len(row) for row in rows[: max(1, len(rows) - 1)]}  # the last line may be cut mid-row
        widths[separator] = len(rows[0]) if len(counts) == 1 else 0
    separator = ","
    if widths[","] <= 1:
        separator = max(SEPARATORS, key=lambda s: widths[s])
        separator = separator if widths[separator] > 1 else ","
    header = next(csv.reader(io.StringIO(head), delimiter=separator))
    columns = [name.strip() or f"Unnamed: {i}" for i, name in enumerate(header)]
    repeated = [name for name, n in Counter(columns).items() if n > 1]
    if repeated:
        where = "; ".join(
            f"{name!r} is columns {', '.join(str(i + 1) for i, c in enumerate(columns) if c == name)}"
            for name in repeated
        )
        raise DataError(
            f"{path}: duplicate column names: {where}",
            hint="give every column its own name; a reader would otherwise silently take one of them",
        )
    return separator, columns


def _csv_rows(table: TableFile) -> Iterator[dict | str]:
    """Each data row's record, or the message saying why it cannot be read; blank lines are skipped."""
    width = len(table.columns)
    with table.path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=table.separator)
        next(reader, None)
        for number, values in enumerate((v for v in reader if v), start=1):
            if len(values) != width:
                yield f"row {number} (line {reader.line_num}): {len(values)} fields, the header has {width}"
            else:
                yield {k: (v if v != "" else None) for k, v in zip(table.columns, values, strict=True)}


def _jsonl_rows(table: TableFile) -> Iterator[dict | str]:
    with table.path.open(encoding="utf-8-sig") as handle:
        lines = ((n, line) for n, line in enumerate(handle, start=1) if line.strip())
        for number, (line_number, line) in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError as error:
                record = f"not a JSON object: {str(error).splitlines()[0]}"
            if not isinstance(record, dict):
                reason = record if isinstance(record, str) else 'not a JSON object {"column": value, ...}'
                record = f"row {number} (line {line_number}): {reason}"
            yield record


def _chunked(rows: Iterator[dict | str], size: int) -> Iterator[Chunk]:
    records: list[dict | None] = []
    errors: dict[int, str] = {}
    first = 1
    for row in rows:
        if isinstance(row, str):
            errors[len(records)] = row
        records.append(None if isinstance(row, str) else row)
        if len(records) == size:
            yield first, records, errors
            first, records, errors = first + size, [], {}
    if records:
        yield first, records, errors


def read_table(path: str | Path) -> pd.DataFrame:
    """The whole table; every CSV cell is text so that validation, not the reader, decides types. A row the reader
    cannot use fails the file, naming the first few rows and lines."""
    table = open_table(path)
    if table.kind == "Parquet":
        try:
            frame = pd.read_parquet(table.path)
        except (ValueError, OSError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DataError(f"{table.path}: cannot be read as Parquet: {first_line}") from None
    else:
        records: list[dict] = []
        errors: list[str] = []
        for _, chunk, chunk_errors in table.chunks(4096):
            records += [r for r in chunk if r is not None]
            errors += chunk_errors.values()
        if errors:
            shown = "; ".join(errors[:MAX_ROW_ERRORS_SHOWN])
            more = f" (and {len(errors) - MAX_ROW_ERRORS_SHOWN} more)" if len(errors) > MAX_ROW_ERRORS_SHOWN else ""
            raise DataError(
                f"{table.path}: cannot be read as {table.kind}: {shown}{more}",
                hint="a field holding the separator or a line break must be in double quotes",
            )
        frame = pd.DataFrame.from_records(records, columns=table.columns or None)
    if frame.empty:
        raise DataError(f"{table.path}: has no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.attrs["separator"] = table.separator  # validation says when it was not a comma
    return frame
