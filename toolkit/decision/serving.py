"""The cascade on raw rows, as a deployment runs it: the scope check, the student on every row, and the teachers
only on the rows the student leaves (or on every row when the student's score is `teacher_agreement`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.decision.cascade import Cascade, Decisions
from toolkit.decision.confidence import NEEDS_TEACHERS
from toolkit.decision.scope import ScopeModel

StudentFn = Callable[[list[str], pd.DataFrame | None], np.ndarray]  # rendered inputs, fields -> probs (n, C)
TeachersFn = Callable[[list[str], pd.DataFrame | None], list[np.ndarray]]  # inputs, fields -> each teacher's probs
CombineFn = Callable[[list[np.ndarray]], np.ndarray]  # the ensemble rule


@dataclass(frozen=True)
class CascadeModels:
    """What a cascade calls: the student always; the teachers and the ensemble rule where it serves them."""

    student: StudentFn
    teachers: TeachersFn | None = None
    combine: CombineFn | None = None


@dataclass(frozen=True)
class CascadeOutput:
    decisions: Decisions
    student_probs: np.ndarray
    scope_reasons: list[str | None]


def _rows(fields: pd.DataFrame | None, mask: np.ndarray) -> pd.DataFrame | None:
    return None if fields is None else fields[mask].reset_index(drop=True)


def run_cascade(
    cascade: Cascade,
    models: CascadeModels,
    inputs: Sequence[str],
    texts: Sequence[str],
    fields: pd.DataFrame | None = None,
    scope: ScopeModel | None = None,
) -> CascadeOutput:
    """Decide `inputs` (rendered model inputs) whose free `texts` and `fields` the scope check reads."""
    inputs = list(inputs)
    reasons = scope.reasons(list(texts), fields) if scope is not None else [None] * len(inputs)
    out_of_scope = np.array([r is not None for r in reasons], bool)
    student = models.student(inputs, fields)
    served = models.teachers is not None and models.combine is not None
    every_row = cascade.student.score in NEEDS_TEACHERS
    if every_row and not served:
        raise ValueError("this cascade's confidence score (teacher_agreement) needs the teachers at serving time")
    teacher_probs = models.teachers(inputs, fields) if every_row else None
    ensemble = np.full_like(student, 1.0 / student.shape[1])  # read only where the ensemble is asked
    if cascade.uses_ensemble and served:
        if teacher_probs is not None:
            ensemble = models.combine(teacher_probs)
        else:
            needed = ~out_of_scope & (cascade.student(student) < cascade.student_threshold)
            if needed.any():
                picked = [text for text, n in zip(inputs, needed, strict=True) if n]
                ensemble[needed] = models.combine(models.teachers(picked, _rows(fields, needed)))
    decisions = cascade.decide(student, ensemble if served else None, teacher_probs, out_of_scope)
    return CascadeOutput(decisions, student, reasons)


def time_cascade(
    cascade: Cascade,
    models: CascadeModels,
    inputs: Sequence[str],
    texts: Sequence[str],
    fields: pd.DataFrame | None,
    scope: ScopeModel | None,
    rows: int,
    warmup: int = 3,
) -> dict:
    """Mean and p50 milliseconds per row, one row at a time, of the cascade, the student alone and (where served)
    the teacher ensemble alone, over the first `rows` rows."""
    n = min(rows, len(inputs))

    def one(i: int) -> tuple[list[str], list[str], pd.DataFrame | None]:
        return [inputs[i]], [texts[i]], None if fields is None else fields.iloc[[i]].reset_index(drop=True)

    def timed(call: Callable[[int], object]) -> list[float]:
        for i in range(min(warmup, n)):
            call(i)
        times = []
        for i in range(n):
            start = time.perf_counter()
            call(i)
            times.append((time.perf_counter() - start) * 1000)
        return times

    out = {"rows": n}
    runs = {
        "cascade": lambda i: run_cascade(cascade, models, *one(i), scope),
        "student": lambda i: models.student(one(i)[0], one(i)[2]),
    }
    if models.teachers is not None and models.combine is not None:

        def ensemble(i: int) -> np.ndarray:
            inputs_i, _, fields_i = one(i)
            return models.combine(models.teachers(inputs_i, fields_i))

        runs["ensemble"] = ensemble
    for name, call in runs.items():
        times = timed(call)
        out[name] = {"mean_ms": round(float(np.mean(times)), 3), "p50_ms": round(float(np.median(times)), 3)}
    return out
