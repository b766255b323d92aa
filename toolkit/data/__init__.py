"""Data: loading (CSV / JSONL / Parquet), validation against a pack's contract, row -> text rendering, splits."""
