"""The decision layer's inputs read from a run folder: the scope model fitted on the training split, which rows
are out of scope, the ensemble's and teachers' stored probabilities, and the models the cascade calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config import PackConfig
from toolkit.decision.cascade import Cascade
from toolkit.decision.evaluation import DeferralInputs, evaluate_cascade
from toolkit.decision.scope import ScopeModel
from toolkit.decision.serving import CascadeModels, CombineFn, StudentFn, TeachersFn, time_cascade
from toolkit.distill.selection import shipped_teacher
from toolkit.registry import teacher_trait
from toolkit.run_context import RunContext, ensemble_rule, load_probs, load_split, restore_teachers, teacher_probs
from toolkit.safe_io import atomic_write_text
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_proba

JUDGED = ("validation", "test")


def ensemble_servable(config: PackConfig) -> bool:
    """The ensemble can be the cascade's second step: the pack allows it and no teacher is a paid API."""
    return config.deferral.ensemble and not any(teacher_trait(t.kind, "paid") for t in config.teachers)


def field_columns(frame: pd.DataFrame, config: PackConfig) -> pd.DataFrame | None:
    """The pack's structured fields present in `frame` (None when it has none): what the scope check reads."""
    names = [f.name for f in config.columns.fields if f.name in frame.columns]
    return frame[names] if names else None


def fit_scope(ctx: RunContext) -> ScopeModel:
    """The scope model of the training split; also written to `report/scope.json` (plain JSON, no code)."""
    train = pd.read_parquet(ctx.layout.split("train"))
    scope = ScopeModel.fit(
        train["text"].astype(str).tolist(), field_columns(train, ctx.config), ctx.config.deferral.scope
    )
    path = ctx.layout.scope
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(scope.to_dict()))
    return scope


def load_scope(ctx: RunContext) -> ScopeModel:
    """The scope model the evaluate stage wrote (refitted when the file is missing)."""
    path = ctx.layout.scope
    return ScopeModel.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else fit_scope(ctx)


def scope_reasons(ctx: RunContext, scope: ScopeModel, split: str) -> list[str | None]:
    frame = pd.read_parquet(ctx.layout.split(split))
    return scope.reasons(frame["text"].astype(str).tolist(), field_columns(frame, ctx.config))


def deferral_inputs(ctx: RunContext, scope: ScopeModel, seed: int | None = None) -> DeferralInputs:
    """Labels, ensemble and teacher probabilities and out-of-scope rows of the validation and test splits."""
    config = ctx.config
    servable = ensemble_servable(config)
    ensemble = load_probs(ctx.layout.ensemble_probs) if servable else None
    teachers = None
    if servable:
        stored = teacher_probs(ctx)
        teachers = {split: [p[split] for p in stored] for split in JUDGED}
    return DeferralInputs(
        config=config,
        y={split: load_split(ctx, split).labels for split in JUDGED},
        ensemble=None if ensemble is None else {split: ensemble[split] for split in JUDGED},
        teachers=teachers,
        out_of_scope={
            split: np.array([r is not None for r in scope_reasons(ctx, scope, split)], bool) for split in JUDGED
        },
        seed=ctx.seed if seed is None else seed,
    )


def student_function(folder: str | Path, config: PackConfig) -> StudentFn:
    """Probabilities from a saved student (a Hugging Face folder; `toolkit.compress.runtime` loads the others)."""
    model, tokenizer = load_classifier(str(folder), config.label_names), load_tokenizer(str(folder))
    return lambda inputs, fields=None: predict_proba(model, tokenizer, inputs, config.student.max_length)


def deployed_function(ctx: RunContext) -> StudentFn:
    """The model the run deploys: its merged student, or the scikit-learn teacher that won the recipe selection."""
    shipped = shipped_teacher(ctx.run_dir)
    if shipped is None:
        return student_function(ctx.layout.student_merged, ctx.config)
    (teacher,) = restore_teachers(ctx, [shipped])
    return lambda inputs, fields=None: teacher.predict_proba(inputs, fields)


def cascade_models(ctx: RunContext, student: StudentFn | None = None) -> CascadeModels:
    """The run's deployed model (unless `student` is given) and, where servable, its fitted teachers."""
    student = student or deployed_function(ctx)
    served = served_teachers(ctx) if ensemble_servable(ctx.config) else None
    return CascadeModels(student, *served) if served else CascadeModels(student)


def served_teachers(ctx: RunContext) -> tuple[TeachersFn, CombineFn]:
    """The run's fitted teachers as one call, and the ensemble rule the student learned from."""
    teachers, rule = restore_teachers(ctx), ensemble_rule(ctx)
    return (lambda inputs, fields: [t.predict_proba(inputs, fields) for t in teachers]), rule.combine


def cascade_report(
    ctx: RunContext,
    inputs: DeferralInputs,
    scope: ScopeModel,
    student: dict[str, np.ndarray],
) -> tuple[Cascade, dict]:
    """The cascade tuned on validation and reported on test, with its latency on this CPU (the run's student)."""
    cascade, report = evaluate_cascade(inputs, student)
    report["latency"] = cascade_latency(ctx, cascade, scope)
    return cascade, report


def cascade_latency(ctx: RunContext, cascade: Cascade, scope: ScopeModel, student_fn: StudentFn | None = None) -> dict:
    """Milliseconds per test row, one at a time: the cascade, the student alone, the ensemble alone."""
    test = pd.read_parquet(ctx.layout.split("test"))
    return time_cascade(
        cascade,
        cascade_models(ctx, student_fn),
        test["input"].tolist(),
        test["text"].astype(str).tolist(),
        field_columns(test, ctx.config),
        scope,
        ctx.config.deferral.latency_texts,
    )
