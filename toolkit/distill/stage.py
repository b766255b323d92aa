"""Stage 4 of a run: the student. Each candidate recipe (toolkit/distill/selection.py) trains on the same rows;
the one best on validation becomes the run's student, whether distilled or the plain fine-tune baseline.

    student/candidates/<name>/    probs.npz, history.json, phases.json, schedule.json, result.json; the weights
                                  of the chosen candidate only (the others' are removed once the choice is made)
    student/adapter/ merged/ probs.npz history.json phases.json schedule.json      the chosen candidate's
    student/selection.json        every candidate's validation figures and wall time, and the choice

A finished candidate is not trained again when the run resumes.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from peft import PeftModel
from transformers import set_seed

from toolkit.config import PackConfig
from toolkit.data.splits import SPLITS, Split
from toolkit.distill.recipe import phases_record, recipe_phases, run_recipe, validation_value
from toolkit.distill.selection import (
    SAMPLE_SOURCES,
    Candidate,
    CandidateResult,
    choose,
    first_candidates,
    over_budget,
    scaled_epochs,
    selection_budget,
    without_each_source,
)
from toolkit.distill.student import build_student, trainable_parameters
from toolkit.distributed import barrier, is_main_process
from toolkit.manifest import fingerprint as hash_parts
from toolkit.registry import teacher_trait
from toolkit.run_context import RunContext, Stage, load_probs, load_split
from toolkit.safe_io import atomic_folder, atomic_path, atomic_write_text
from toolkit.transformer_models import load_tokenizer, predict_proba

STUDENT_FILES = ("adapter", "adapter_base", "merged", "probs.npz", "history.json", "phases.json", "schedule.json")
WEIGHTS = ("adapter", "adapter_base", "merged")


def adapter_base_needed(model: torch.nn.Module, phases: list[str]) -> torch.nn.Module | None:
    """The model under the final adapter when the recipe merged earlier phases into it (a `fine` phase): the
    adapter alone cannot be put back on the pretrained model then."""
    if isinstance(model, PeftModel) and "fine" in phases:
        return copy.deepcopy(model).unload()
    return None


def save_student(folder: Path, model: Any, tokenizer: Any, phases: list[str]) -> Any:
    """Write the trained student: `adapter/` (+ `adapter_base/` when a phase merged mid-way) for a LoRA student,
    always `merged/`; returns the merged model. What an earlier recipe left is removed first: a full fine-tune
    after a LoRA run must not leave the old adapter for the compress stage to merge."""
    for stale in WEIGHTS:
        shutil.rmtree(folder / stale, ignore_errors=True)
    if isinstance(model, PeftModel):
        with atomic_folder(folder / "adapter") as temporary:
            model.save_pretrained(temporary)
        base = adapter_base_needed(model, phases)
        if base is not None:
            with atomic_folder(folder / "adapter_base") as temporary:
                base.save_pretrained(temporary)
        model = model.merge_and_unload()
    with atomic_folder(folder / "merged") as temporary:
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
    return model


def filter_feeds_distill(config: PackConfig) -> bool:
    spec = config.filter
    return spec.enabled and (spec.use_for_distill or spec.label_issues.drop)


def kept_samples(ctx: RunContext) -> pd.DataFrame | None:
    """The filter's kept samples that may join the student's training rows, or None."""
    spec = ctx.config.filter
    if not (spec.enabled and spec.use_for_distill):
        return None
    return pd.read_parquet(ctx.layout.kept)


def training_split(ctx: RunContext, train: Split, kept: pd.DataFrame | None, sources: tuple[str, ...]) -> Split:
    """The student's training rows: the train split, without the rows flagged as label issues when the user
    asked for that (`filter.label_issues.drop`), plus the kept filter samples of `sources`, labeled by the
    ensemble."""
    texts, labels, probs = list(train.texts), np.asarray(train.labels), train.teacher_probs
    if ctx.config.filter.enabled and ctx.config.filter.label_issues.drop:
        issues = pd.read_csv(ctx.layout.label_issues)
        flagged = set(issues.loc[issues["split"] == "train", "row"])
        rows = pd.read_parquet(ctx.layout.split("train"), columns=["row"])["row"]
        keep = ~rows.isin(flagged).to_numpy()
        texts, labels = [t for t, k in zip(texts, keep, strict=True) if k], labels[keep]
        probs = probs[keep] if probs is not None else None
        ctx.log(
            f"distill: {int((~keep).sum())} training rows flagged as label issues left out (filter.label_issues.drop)"
        )
    if kept is not None and sources:
        added = kept[kept["source"].isin(sources)]
        index = {label: k for k, label in enumerate(ctx.labels)}
        texts += added["input"].tolist()
        labels = np.concatenate([labels, added["label"].map(index).to_numpy()])
        if probs is not None:
            probs = np.concatenate([probs, added[[f"p_{label}" for label in ctx.labels]].to_numpy()])
        ctx.log(
            f"distill: {len(added)} filtered samples added to {len(train.texts)} training rows ({', '.join(sources)})"
        )
    return Split(texts, labels, teacher_probs=probs)


def _validation_figures(config: PackConfig, y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Macro F1, accuracy and (with a critical class) its recall on validation: what selection compares."""
    critical = config.label_names.index(config.critical_label) if config.critical_label else None
    metrics = ("macro_f1", "accuracy") + (("critical_recall",) if critical is not None else ())
    return {metric: validation_value(metric, y, probs, critical) for metric in metrics}


def primary(figures: dict[str, float], config: PackConfig) -> float:
    """The primary metric among the figures (critical recall without a critical class is macro F1, as in fit)."""
    return figures.get(config.distill.primary_metric, figures["macro_f1"])


def _candidate_key(candidate: Candidate, stage_fingerprint: str) -> str:
    c = candidate.config
    return hash_parts(
        stage_fingerprint, c.student.model_dump(mode="json"), c.distill.model_dump(mode="json"), list(candidate.samples)
    )


def train_candidate(
    ctx: RunContext,
    candidate: Candidate,
    splits: dict[str, Split],
    kept: pd.DataFrame | None,
    stage_fingerprint: str,
) -> CandidateResult:
    """Train one candidate into student/candidates/<name>/ (or restore it, when this run finished it before)."""
    folder = ctx.layout.candidate(candidate.name)
    key = _candidate_key(candidate, stage_fingerprint)
    stored = folder / "result.json"
    if stored.is_file() and (folder / "probs.npz").is_file():
        saved = json.loads(stored.read_text(encoding="utf-8"))
        if saved["key"] == key:
            ctx.log(f"candidate {candidate.name}: trained earlier in this run, restored")
            saved["result"]["samples"] = tuple(saved["result"]["samples"])
            return CandidateResult(**saved["result"])
    config, spec = candidate.config, candidate.config.student
    started = time.perf_counter()
    set_seed(ctx.seed)
    tokenizer = load_tokenizer(spec.model)
    student = build_student(spec, ctx.labels)
    trainable, total = trainable_parameters(student)
    teacher_free = config.distill.alpha == 1.0 and not config.distill.alpha_schedule
    train = splits["train"] if not teacher_free else replace(splits["train"], teacher_probs=None)
    validation = splits["validation"] if not teacher_free else replace(splits["validation"], teacher_probs=None)
    train = training_split(ctx, train, kept, candidate.samples)
    ctx.log(
        f"candidate {candidate.name} ({candidate.description}): {len(train.texts)} training rows, "
        f"{config.distill.epochs:g} epochs at most, {trainable:,} of {total:,} parameters trainable"
    )
    model, phases, history = run_recipe(
        config,
        student,
        tokenizer,
        train,
        validation,
        folder / "training",
        ctx.seed,
        teacher_model_dir=lambda name: ctx.layout.teacher(name) / "model",
        log=ctx.log,
    )
    # every process computes the validation figures, so that all of them take the same next candidate
    y_val = np.asarray(splits["validation"].labels)
    val_probs = predict_proba(model, tokenizer, validation.texts, spec.max_length)
    figures = _validation_figures(config, y_val, val_probs)
    value = primary(figures, config)
    result = CandidateResult(
        candidate.name,
        candidate.description,
        candidate.baseline,
        candidate.samples,
        value,
        figures,
        round(time.perf_counter() - started, 2),
        details={
            "training_rows": len(train.texts),
            "epochs": config.distill.epochs,
            "lora": spec.lora is not None,
            "temperature": config.distill.temperature,
            "alpha": config.distill.alpha,
            "learning_rate": config.distill.learning_rate,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "phases": phases_record(phases),
            # the HF Trainer's own throughput figure (rows x epochs over its train time, evaluation included)
            "samples_per_second": [h["train_samples_per_second"] for h in history if "train_samples_per_second" in h],
        },
    )
    if is_main_process():
        model = save_student(folder, model, tokenizer, [p.name for p in recipe_phases(config)])
        probs = {name: predict_proba(model, tokenizer, split.texts, spec.max_length) for name, split in splits.items()}
        with atomic_path(folder / "probs.npz") as temporary:
            np.savez_compressed(temporary, **probs)
        atomic_write_text(folder / "history.json", json.dumps(history, indent=2))
        atomic_write_text(folder / "phases.json", json.dumps(phases_record(phases), indent=2))
        schedules = {
            p.name: json.loads((p / "schedule.json").read_text())
            for p in sorted((folder / "training").glob("*-*"))
            if (p / "schedule.json").is_file()
        }
        atomic_write_text(folder / "schedule.json", json.dumps(schedules))
        shutil.rmtree(folder / "training", ignore_errors=True)
        atomic_write_text(stored, json.dumps({"key": key, "result": result.to_dict()}, indent=2))
    barrier()
    ctx.log(
        f"candidate {candidate.name}: validation {config.distill.primary_metric} {value:.3f} ({result.seconds:.0f} s)"
    )
    return result


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The teachers (the soft targets), the student and its recipes, what picks the checkpoint and the candidate,
    and the filter's samples when they join the training rows."""
    c = ctx.config
    return hash_parts(
        "distill",
        upstream["teachers"],
        c.student.model_dump(mode="json"),
        c.distill.model_dump(mode="json"),
        c.recipe_search.model_dump(mode="json"),
        c.critical_label,  # the primary metric may be its recall, which picks checkpoints and candidates
        c.fast.recipe_variants if ctx.fast else None,
        [upstream["filter"], c.filter.use_for_distill, c.filter.label_issues.drop] if filter_feeds_distill(c) else None,
    )


def run(ctx: RunContext) -> dict:
    """The stage as the driver runs it, under the key `fingerprint` gave."""
    return run_distill(ctx, ctx.fingerprints["distill"])


def run_distill(ctx: RunContext, stage_fingerprint: str) -> dict:
    """Train the candidates (the budget permitting), choose on validation, and make the choice the run's student."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    soft = load_probs(ctx.layout.ensemble_probs)
    splits = {name: replace(split, teacher_probs=soft[name]) for name, split in splits.items()}
    kept = kept_samples(ctx)
    sources = tuple(s for s in SAMPLE_SOURCES if kept is not None and (kept["source"] == s).any())
    config = scaled_epochs(ctx.config, len(splits["train"].texts), ctx.fast)
    search = config.recipe_search
    budget = selection_budget(search, len(splits["train"].texts))
    results: list[CandidateResult] = []
    candidates: dict[str, Candidate] = {}

    def attempt(candidate: Candidate) -> None:
        candidates[candidate.name] = candidate
        if len(results) >= 2 and over_budget(results, budget):
            results.append(
                CandidateResult(
                    candidate.name,
                    candidate.description,
                    candidate.baseline,
                    candidate.samples,
                    None,
                    {},
                    0.0,
                    status=f"not trained: the budget ({budget:g} x the recipe's time) was spent",
                )
            )
            ctx.log(f"candidate {candidate.name}: skipped, the selection budget is spent")
            return
        results.append(train_candidate(ctx, candidate, splits, kept, stage_fingerprint))

    for candidate in first_candidates(config, ctx.fast, sources):
        attempt(candidate)
    if search.enabled:
        distilled = [r for r in results if not r.baseline and r.value is not None]
        best = candidates[choose(distilled).name]
        for candidate in without_each_source(best):
            attempt(candidate)
    if search.enabled and search.teachers:
        results += [
            _teacher_result(ctx, spec.name, spec.kind, splits)
            for spec in ctx.config.teachers
            if teacher_trait(spec.kind, "shippable")
        ]
    chosen = choose(results)
    trained = [r for r in results if r.value is not None and "teacher" not in r.details]
    best = chosen if "teacher" not in chosen.details else choose(trained)  # student/ holds a transformer always
    if not (ctx.layout.candidate(best.name) / "merged").is_dir():  # resumed after its weights went
        (ctx.layout.candidate(best.name) / "result.json").unlink(missing_ok=True)
        train_candidate(ctx, candidates[best.name], splits, kept, stage_fingerprint)
    if is_main_process():
        _make_student(ctx, chosen, best, trained)
        _write_selection(ctx, config, results, chosen, budget)
    barrier()
    ctx.log(selection_sentence(chosen, results, config.distill.primary_metric))
    details = next(r.details for r in results if r.name == chosen.name)
    return {
        "chosen": chosen.name,
        "steps": {r.name: r.seconds for r in results if r.seconds},  # each candidate's training
        **{k: details[k] for k in ("trainable_parameters", "total_parameters", "phases") if k in details},
    }


TEACHER_WORDS = {"sklearn": "TF-IDF + logistic regression", "tabular": "scikit-learn model on the structured fields"}


def _teacher_result(ctx: RunContext, name: str, kind: str, splits: dict[str, Split]) -> CandidateResult:
    """A scikit-learn teacher as a candidate: trained already, shipped as it is if it beats every transformer."""
    probs = load_probs(ctx.layout.teacher_probs(name))["validation"]
    y_val = np.asarray(splits["validation"].labels)
    figures = _validation_figures(ctx.config, y_val, probs)
    return CandidateResult(
        name,
        f"teacher {name}: {TEACHER_WORDS[kind]}, shipped as it is (baseline)",
        True,
        (),
        primary(figures, ctx.config),
        figures,
        0.0,
        details={"teacher": name, "kind": kind},
    )


def _make_student(
    ctx: RunContext, chosen: CandidateResult, best: CandidateResult, trained: list[CandidateResult]
) -> None:
    """The files of `best` (the chosen candidate, or the best transformer when a scikit-learn teacher won: then with
    the teacher's probabilities, and the compress stage ships the teacher) become student/; the other candidates
    keep their figures, not their weights."""
    student = ctx.layout.student
    source = ctx.layout.candidate(best.name)
    for name in STUDENT_FILES:
        target = student / name
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        if (source / name).is_dir():
            shutil.copytree(source / name, target)
        elif (source / name).is_file():
            shutil.copy2(source / name, target)
    if "teacher" in chosen.details:
        shutil.copy2(ctx.layout.teacher_probs(chosen.name), ctx.layout.student_probs)
    for result in trained:
        if result.name != best.name:
            for weights in WEIGHTS:
                shutil.rmtree(ctx.layout.candidate(result.name) / weights, ignore_errors=True)
    names = {r.name for r in trained}
    for folder in ctx.layout.candidates.iterdir():  # what an earlier config's selection left
        if folder.name not in names:
            shutil.rmtree(folder, ignore_errors=True)


def _write_selection(
    ctx: RunContext, config: PackConfig, results: list[CandidateResult], chosen: CandidateResult, budget: float
) -> None:
    payload = {
        "metric": config.distill.primary_metric,
        "chosen": chosen.name,
        "baseline_chosen": chosen.baseline,
        "deployed_teacher": chosen.details.get("teacher"),
        "budget": budget,
        "seconds": round(sum(r.seconds for r in results), 2),
        "candidates": [r.to_dict() for r in results],
    }
    atomic_write_text(ctx.layout.selection, json.dumps(payload, indent=2))


def selection_sentence(chosen: CandidateResult, results: list[CandidateResult], metric: str) -> str:
    """What was deployed and why, in one sentence."""
    trained = [r for r in results if r.value is not None]
    others = ", ".join(f"{r.name} {r.value:.3f}" for r in trained if r.name != chosen.name)
    what = (
        "a scikit-learn baseline, which no transformer beat"
        if "teacher" in chosen.details
        else "the plain fine-tune baseline, which distillation did not beat"
        if chosen.baseline
        else "a distilled recipe"
    )
    return f"selection: deployed {chosen.name} ({what}): validation {metric} {chosen.value:.3f}" + (
        f"; the others: {others}" if others else ""
    )


STAGE = Stage("distill", fingerprint, run)
