"""Label texts with a teacher through the cache: resumable, batched, with a progress bar and throughput.

Under `accelerate launch` (or `torchrun`) each process labels its share of the texts not yet cached; all write to
the one cache file and every process then reads the full result from it, so N processes give the same outputs as
one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toolkit.distributed import barrier, process_share
from toolkit.teachers.base import Teacher
from toolkit.teachers.cache import TeacherCache, text_hash


@dataclass(frozen=True)
class LabelingStats:
    texts: int
    from_cache: int
    computed: int
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def label_texts(
    teacher: Teacher,
    texts: Sequence[str],
    cache: TeacherCache,
    rows: pd.DataFrame | None = None,
    batch_size: int = 256,
    show_progress: bool = True,
    description: str | None = None,
) -> tuple[np.ndarray, LabelingStats]:
    """Probabilities (n, C) for `texts` in order; only texts missing from the cache reach the teacher.

    `rows` (one row per text) is passed to teachers that read structured fields instead of text.
    """
    started = time.perf_counter()
    key = teacher.fingerprint()
    hashes = [text_hash(t) for t in texts]
    rank, world = process_share()
    barrier()  # every process reads the cache in the same state, so their shares fit together
    cached = cache.get(key, texts)
    first_missing: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h not in cached and h not in first_missing:
            first_missing[h] = i
    barrier()  # ... and nobody writes before all have read
    todo = list(first_missing.values())[rank::world]
    computed = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        disable=not show_progress or not todo,
        transient=False,
    ) as progress:
        task = progress.add_task(description or f"labeling with {teacher.name}", total=len(todo), rate="")
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            batch_texts = [texts[i] for i in batch]
            batch_rows = rows.iloc[batch].reset_index(drop=True) if rows is not None else None
            probs = teacher.predict_proba(batch_texts, rows=batch_rows)
            cache.put(key, batch_texts, probs)
            computed += len(batch)
            rate = computed / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=len(batch), rate=f"{rate:,.1f} texts/s")
    if world > 1:
        barrier()
        cached = cache.get(key, texts)
    else:
        cached.update(cache.get(key, [texts[i] for i in first_missing.values()]))
    result = np.stack([cached[h] for h in hashes]).astype(np.float64) if texts else np.zeros((0, 0))
    stats = LabelingStats(
        texts=len(texts),
        from_cache=len(texts) - len(first_missing),
        computed=computed,
        seconds=time.perf_counter() - started,
    )
    return result, stats
