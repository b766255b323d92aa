"""Read a user's table from CSV, JSONL or Parquet, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from toolkit.errors import DataError

FORMATS = {".csv": "CSV", ".jsonl": "JSONL", ".json": "JSONL", ".parquet": "Parquet", ".pq": "Parquet"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Load a table; every cell of a CSV is read as text so that validation, not pandas, decides types.

    >>> read_table("data_templates/finance_risk/example_labeled.csv").shape  # doctest: +SKIP
    (800, 8)
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found", hint="give the path of a CSV, JSONL or Parquet file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a CSV, JSONL or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(sorted(FORMATS))}")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        elif FORMATS[suffix] == "JSONL":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot be read as {FORMATS[suffix]}: {first_line}") from None
    if frame.empty:
        raise DataError(f"{path}: has no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)
