"""The decision layer's inputs read from a run folder: the scope model fitted on the training split, which rows
are out of scope, the ensemble's and teachers' stored probabilities, and the models the cascade calls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from toolkit.config import API_TEACHER_KINDS, PackConfig
from toolkit.decision.cascade import Cascade
from toolkit.decision.evaluation import DeferralInputs, evaluate_cascade
from toolkit.decision.scope import ScopeModel
from toolkit.decision.serving import CascadeModels, time_cascade
from toolkit.run_context import RunContext, ensemble_rule, load_probs, load_split, restore_teachers
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_proba

SCOPE_FILE = "scope.json"
JUDGED = ("validation", "test")


def ensemble_servable(config: PackConfig) -> bool:
    """The ensemble can be the cascade's second step: the pack allows it and no teacher is a paid API."""
    return config.deferral.ensemble and not any(t.kind in API_TEACHER_KINDS for t in config.teachers)


def _fields(frame: pd.DataFrame, config: PackConfig) -> pd.DataFrame | None:
    names = [f.name for f in config.columns.fields if f.name in frame.columns]
    return frame[names] if names else None


def fit_scope(ctx: RunContext) -> ScopeModel:
    """The scope model of the training split; also written to `report/scope.json` (plain JSON, no code)."""
    train = pd.read_parquet(ctx.path("data", "train.parquet"))
    scope = ScopeModel.fit(train["text"].astype(str).tolist(), _fields(train, ctx.config), ctx.config.deferral.scope)
    path = ctx.path("report", SCOPE_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scope.to_dict()), encoding="utf-8")
    return scope


def scope_reasons(ctx: RunContext, scope: ScopeModel, split: str) -> list[str | None]:
    frame = pd.read_parquet(ctx.path("data", f"{split}.parquet"))
    return scope.reasons(frame["text"].astype(str).tolist(), _fields(frame, ctx.config))


def deferral_inputs(ctx: RunContext, scope: ScopeModel, seed: int | None = None) -> DeferralInputs:
    """Labels, ensemble and teacher probabilities and out-of-scope rows of the validation and test splits."""
    config = ctx.config
    servable = ensemble_servable(config)
    ensemble = load_probs(ctx.path("teachers", "ensemble", "probs.npz")) if servable else None
    teachers = None
    if servable:
        stored = [load_probs(ctx.path("teachers", t.name, "probs.npz")) for t in config.teachers]
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


def cascade_models(ctx: RunContext, student_dir: str | None = None) -> CascadeModels:
    """The run's student (its merged model, or `student_dir`) and, where servable, its fitted teachers."""
    folder = student_dir or str(ctx.path("student", "merged"))
    model, tokenizer = load_classifier(folder, ctx.labels), load_tokenizer(folder)
    max_length = ctx.config.student.max_length

    def student(inputs: list[str]) -> np.ndarray:
        return predict_proba(model, tokenizer, inputs, max_length)

    if not ensemble_servable(ctx.config):
        return CascadeModels(student)
    teachers, rule = restore_teachers(ctx), ensemble_rule(ctx)
    return CascadeModels(
        student,
        lambda inputs, fields: [t.predict_proba(inputs, fields) for t in teachers],
        rule.combine,
    )


def cascade_report(
    ctx: RunContext,
    inputs: DeferralInputs,
    scope: ScopeModel,
    student: dict[str, np.ndarray],
    student_dir: str | None = None,
) -> tuple[Cascade, dict]:
    """The cascade tuned on validation and reported on test, with its latency on this CPU measured on the test
    rows one at a time (the student from `student_dir`, default the run's merged student)."""
    cascade, report = evaluate_cascade(inputs, student)
    test = pd.read_parquet(ctx.path("data", "test.parquet"))
    report["latency"] = time_cascade(
        cascade,
        cascade_models(ctx, student_dir),
        test["input"].tolist(),
        test["text"].astype(str).tolist(),
        _fields(test, ctx.config),
        scope,
        ctx.config.deferral.latency_texts,
    )
    return cascade, report
