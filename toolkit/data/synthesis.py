"""Shared plumbing for packs' seeded example-data generators."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def distinct_cases(
    make_case: Callable[[np.random.Generator], dict], n_rows: int, seed: int, id_column: str, id_prefix: str
) -> pd.DataFrame:
    """`n_rows` distinct cases drawn with `make_case(rng)`, reproducible from `seed`, with a leading id column.

    Repeats are skipped so that the example data never teaches the duplicate checks to fire.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    seen: set[str] = set()
    while len(rows) < n_rows:
        case = make_case(rng)
        key = "|".join(str(v) for v in case.values())
        if key not in seen:
            seen.add(key)
            rows.append(case)
    frame = pd.DataFrame(rows)
    frame.insert(0, id_column, [f"{id_prefix}{seed:02d}-{i + 1:05d}" for i in range(len(frame))])
    return frame
