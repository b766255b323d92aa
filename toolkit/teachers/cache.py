"""On-disk cache of teacher outputs, keyed by teacher fingerprint + text hash (SQLite).

Every finished batch is committed at once, so a killed labeling run loses at most the batch in flight, and a
re-run pays (in time or API money) only for texts it has not seen. Several processes may share one cache file
(WAL mode + busy timeout), which is how multi-process labeling gathers its results.

>>> cache = TeacherCache(Path("runs/x/teachers/cache.sqlite"))  # doctest: +SKIP
>>> cache.get("f1a2", ["some text"])  # doctest: +SKIP
{}
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    teacher TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    probs BLOB NOT NULL,
    PRIMARY KEY (teacher, text_hash)
)
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TeacherCache:
    """Probabilities per (teacher fingerprint, text), stored as float32 blobs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._connection = sqlite3.connect(path, timeout=60.0)
        self._set_up()

    def _set_up(self, attempts: int = 200) -> None:
        # SQLite's busy timeout does not cover the switch to WAL: when two processes open a new cache file at
        # the same moment, one of them is told "database is locked" at once (as ranks of `accelerate launch` do).
        for attempt in range(attempts):
            try:
                self._connection.execute("PRAGMA journal_mode=WAL")
                self._connection.execute(SCHEMA)
                self._connection.commit()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == attempts - 1:
                    raise
                time.sleep(0.05)

    def get(self, teacher: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached probabilities for those of `texts` already labeled by `teacher`, keyed by text hash."""
        hashes = list({text_hash(t) for t in texts})
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 900):  # SQLite's limit on bound parameters
            chunk = hashes[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT text_hash, probs FROM outputs WHERE teacher = ? AND text_hash IN ({marks})",  # noqa: S608
                [teacher, *chunk],
            )
            found.update({h: np.frombuffer(blob, dtype=np.float32) for h, blob in rows})
        return found

    def put(self, teacher: str, texts: Iterable[str], probs: np.ndarray) -> None:
        """Store one batch and commit it."""
        rows = [
            (teacher, text_hash(t), np.asarray(p, dtype=np.float32).tobytes())
            for t, p in zip(texts, probs, strict=True)
        ]
        self._connection.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?)", rows)
        self._connection.commit()

    def count(self, teacher: str) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM outputs WHERE teacher = ?", [teacher]).fetchone()[0]

    def close(self) -> None:
        self._connection.close()
