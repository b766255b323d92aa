"""The run: stages that talk through files in `runs/<name>/`, each skipped when its inputs and config are unchanged.

    data      -> data/{train,validation,test}.parquet, data/validation_report.json
    teachers  -> teachers/<name>/probs.npz (+ the trained teacher), teachers/ensemble/probs.npz
    distill   -> student/adapter, student/merged, student/probs.npz, student/history.json
    evaluate  -> report/metrics.json, report/report.md

Examples
--------
>>> from toolkit.pipeline import RunRequest, run
>>> result = run(RunRequest(domain="finance_risk", fast=True))  # doctest: +SKIP
>>> result.report_path  # doctest: +SKIP
PosixPath('runs/finance_risk/report/report.md')
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from transformers import set_seed
from transformers.utils import logging as hf_logging

from toolkit.config import PackConfig, apply_overrides
from toolkit.data.loading import read_table
from toolkit.data.rendering import render_frame
from toolkit.data.splits import SPLITS, split_frame
from toolkit.data.validation import validate_frame
from toolkit.distill.fit import FitSettings, Split, fit_classifier, remove_checkpoints
from toolkit.distill.student import build_student, trainable_parameters
from toolkit.errors import ConfigError, DataError
from toolkit.manifest import Manifest, environment_versions, file_digest, fingerprint, machine_summary, now
from toolkit.metrics.classification import check_targets, classification_metrics, majority_probabilities
from toolkit.metrics.report import write_metrics, write_report
from toolkit.packs import Pack, load_pack
from toolkit.teachers.base import build_teacher
from toolkit.teachers.ensemble import average_probabilities
from toolkit.transformer_models import load_tokenizer, predict_proba

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: `domain-distill run --domain D [--data F] [--out DIR] [--fast] [--seed S]`."""

    domain: str
    data: Path | None = None
    out: Path | None = None
    fast: bool = False
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    run_dir: Path
    pack: Pack
    config: PackConfig
    data_path: Path
    seed: int
    fast: bool
    manifest: Manifest
    log: Log

    @property
    def labels(self) -> list[str]:
        return self.config.label_names

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    report_path: Path
    metrics: dict


def effective_config(config: PackConfig, fast: bool) -> PackConfig:
    """The pack config with `--fast` reductions applied (shorter inputs, fewer epochs)."""
    if not fast:
        return config
    f = config.fast
    teachers = [
        t.model_copy(
            update={"options": {**t.options, "epochs": min(float(t.options.get("epochs", 4)), f.teacher_epochs)}}
        )
        if t.kind == "hf"
        else t
        for t in config.teachers
    ]
    return config.model_copy(
        update={
            "teachers": teachers,
            "student": config.student.model_copy(update={"max_length": min(config.student.max_length, f.max_length)}),
            "distill": config.distill.model_copy(update={"epochs": min(config.distill.epochs, f.student_epochs)}),
        }
    )


def _resolve_data_path(request: RunRequest, pack: Pack) -> Path:
    if request.data is not None:
        return request.data
    if pack.config.example_data is None:
        raise ConfigError(
            f"{pack.root / 'pack.yaml'}: no `example_data` declared and no --data given",
            hint="pass --data FILE with your labeled rows",
        )
    return pack.resolve_path(pack.config.example_data)


def prepare_context(request: RunRequest, log: Log = print) -> RunContext:
    pack = load_pack(request.domain)
    config = apply_overrides(pack.config, request.overrides) if request.overrides else pack.config
    config = effective_config(config, request.fast)
    run_dir = Path(request.out) if request.out else Path("runs") / pack.name
    manifest = Manifest.open(run_dir)
    if manifest.data.get("domain") not in (None, pack.name):
        raise ConfigError(
            f"{run_dir}: holds a run of pack {manifest.data['domain']!r}, not {pack.name!r}",
            hint="choose another --out folder",
        )
    seed = request.seed if request.seed is not None else config.split.seed
    context = RunContext(
        run_dir=run_dir,
        pack=pack,
        config=config,
        data_path=_resolve_data_path(request, pack),
        seed=seed,
        fast=request.fast,
        manifest=manifest,
        log=log,
    )
    manifest.update(
        domain=pack.name,
        pack_dir=str(pack.root),
        data=str(context.data_path),
        seed=seed,
        fast=request.fast,
        config=config.model_dump(mode="json"),
        versions=environment_versions(),
        machine=machine_summary(),
        updated_at=now(),
    )
    return context


# --------------------------------------------------------------------------------------------------- stages


def stage_data(ctx: RunContext) -> dict:
    """Validate the user's file, render inputs, split; write parquet splits and the validation report."""
    frame, report, config = validate_frame(read_table(ctx.data_path), ctx.config, ctx.data_path)
    ctx.path("data").mkdir(parents=True, exist_ok=True)
    (ctx.path("data", "validation_report.json")).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    report.raise_if_errors()
    frame["input"] = render_frame(frame, config.columns.fields, config.render)
    parts = split_frame(
        frame,
        config.split.model_copy(update={"seed": ctx.seed}),
        group_column="group" if config.columns.group else None,
    )
    if ctx.fast and len(parts["train"]) > ctx.config.fast.max_train_rows:
        parts["train"], _ = train_test_split(
            parts["train"],
            train_size=ctx.config.fast.max_train_rows,
            stratify=parts["train"]["label"],
            random_state=ctx.seed,
        )
        parts["train"] = parts["train"].reset_index(drop=True)
    for name, part in parts.items():
        part.to_parquet(ctx.path("data", f"{name}.parquet"), index=False)
    sizes = {name: len(part) for name, part in parts.items()}
    ctx.log(
        f"data: {report.rows_read} rows read, {len(report.dropped)} dropped (listed in the report), "
        f"split {sizes['train']} / {sizes['validation']} / {sizes['test']}"
    )
    return {"split_sizes": sizes, "dropped": len(report.dropped), "warnings": len(report.warnings)}


def load_split(ctx: RunContext, name: str) -> tuple[list[str], np.ndarray]:
    """Rendered inputs and label indices of one split."""
    frame = pd.read_parquet(ctx.path("data", f"{name}.parquet"))
    index = {label: i for i, label in enumerate(ctx.labels)}
    return frame["input"].tolist(), frame["label"].map(index).to_numpy()


def load_probs(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in SPLITS}


def stage_teachers(ctx: RunContext, stage_fingerprint: str) -> dict:
    """Fit each teacher on train, write its probabilities for every split, then average them."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    train = Split(*splits["train"])
    validation = Split(*splits["validation"])
    summary: dict[str, dict] = {}
    all_probs: list[np.ndarray] = []
    for spec in ctx.config.teachers:
        folder = ctx.path("teachers", spec.name)
        done_file = folder / "done.json"
        teacher_key = fingerprint(stage_fingerprint, spec.model_dump(mode="json"))
        if done_file.is_file() and json.loads(done_file.read_text())["key"] == teacher_key:
            ctx.log(f"teacher {spec.name}: already labeled in this run, reusing its outputs")
        else:
            started = time.perf_counter()
            ctx.log(f"teacher {spec.name} ({spec.kind}): training on {len(train.texts)} rows")
            set_seed(ctx.seed)
            teacher = build_teacher(
                spec, ctx.labels, seed=ctx.seed, max_length=ctx.config.student.max_length, pack=ctx.pack
            )
            teacher.fit(train, validation, folder)
            probs = {name: teacher.predict_proba(texts) for name, (texts, _) in splits.items()}
            teacher.save(folder)
            np.savez_compressed(folder / "probs.npz", **probs)
            done_file.write_text(
                json.dumps(
                    {
                        "key": teacher_key,
                        "fingerprint": teacher.fingerprint(),
                        "seconds": round(time.perf_counter() - started, 2),
                    }
                )
            )
        probs = load_probs(folder / "probs.npz")
        all_probs.append(probs)
        val_metrics = classification_metrics(validation.labels, probs["validation"], ctx.labels)
        summary[spec.name] = {"kind": spec.kind, "validation_macro_f1": val_metrics["macro_f1"]}
        ctx.log(f"teacher {spec.name}: validation macro F1 {val_metrics['macro_f1']:.3f}")
    ensemble = {name: average_probabilities([p[name] for p in all_probs]) for name in SPLITS}
    ctx.path("teachers", "ensemble").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ctx.path("teachers", "ensemble", "probs.npz"), **ensemble)
    ensemble_f1 = classification_metrics(validation.labels, ensemble["validation"], ctx.labels)["macro_f1"]
    summary["ensemble"] = {"kind": "mean", "validation_macro_f1": ensemble_f1}
    ctx.path("teachers", "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    ctx.log(f"teacher ensemble (mean of {len(all_probs)}): validation macro F1 {ensemble_f1:.3f}")
    return {"teachers": summary}


def stage_distill(ctx: RunContext) -> dict:
    """Train the LoRA student on gold labels + the ensemble's soft targets; save adapter and merged model."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    soft = load_probs(ctx.path("teachers", "ensemble", "probs.npz"))
    spec, recipe = ctx.config.student, ctx.config.distill
    set_seed(ctx.seed)
    tokenizer = load_tokenizer(spec.model)
    student = build_student(spec, ctx.labels)
    trainable, total = trainable_parameters(student)
    ctx.log(
        f"student {spec.model}: {trainable:,} of {total:,} parameters trainable "
        f"({'LoRA r=' + str(spec.lora.r) if spec.lora else 'full fine-tuning'}), T={recipe.temperature}, "
        f"alpha={recipe.alpha}, {recipe.epochs:g} epochs"
    )
    settings = FitSettings(
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        max_length=spec.max_length,
        seed=ctx.seed,
        temperature=recipe.temperature,
        alpha=recipe.alpha,
        weight_decay=recipe.weight_decay,
    )
    work_dir = ctx.path("student", "training")
    history = fit_classifier(
        student,
        tokenizer,
        Split(*splits["train"], teacher_probs=soft["train"]),
        Split(*splits["validation"], teacher_probs=soft["validation"]),
        settings,
        work_dir,
    )
    if spec.lora is not None:
        student.save_pretrained(ctx.path("student", "adapter"))
        merged = student.merge_and_unload()
    else:
        merged = student
    merged.save_pretrained(ctx.path("student", "merged"))
    tokenizer.save_pretrained(ctx.path("student", "merged"))
    probs = {name: predict_proba(merged, tokenizer, texts, spec.max_length) for name, (texts, _) in splits.items()}
    np.savez_compressed(ctx.path("student", "probs.npz"), **probs)
    ctx.path("student", "history.json").write_text(json.dumps(history, indent=2), encoding="utf-8")
    remove_checkpoints(work_dir)
    return {"trainable_parameters": trainable, "total_parameters": total}


def stage_evaluate(ctx: RunContext) -> dict:
    """Metrics for the majority baseline, every teacher, the ensemble and the student; report files."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    n_classes = len(ctx.labels)
    sources: dict[str, tuple[str, dict[str, np.ndarray]]] = {
        "majority_baseline": (
            "baseline",
            {name: majority_probabilities(splits["train"][1], len(splits[name][1]), n_classes) for name in SPLITS},
        ),
    }
    for spec in ctx.config.teachers:
        sources[spec.name] = (f"teacher ({spec.kind})", load_probs(ctx.path("teachers", spec.name, "probs.npz")))
    sources["teacher_ensemble"] = ("ensemble (mean)", load_probs(ctx.path("teachers", "ensemble", "probs.npz")))
    sources["student"] = (
        "student (LoRA)" if ctx.config.student.lora else "student",
        load_probs(ctx.path("student", "probs.npz")),
    )
    models = {
        name: {
            "role": role,
            **{
                split: classification_metrics(splits[split][1], probs[split], ctx.labels, ctx.config.ordinal)
                for split in ("validation", "test")
            },
        }
        for name, (role, probs) in sources.items()
    }
    payload = {
        "domain": ctx.pack.name,
        "data": str(ctx.data_path),
        "seed": ctx.seed,
        "fast": ctx.fast,
        "labels": ctx.labels,
        "critical_label": ctx.config.critical_label,
        "split_sizes": {name: len(splits[name][1]) for name in SPLITS},
        "models": models,
        "targets": check_targets(models["student"]["test"], ctx.config.targets),
    }
    write_metrics(ctx.path("report", "metrics.json"), payload)
    write_report(ctx.path("report", "report.md"), payload)
    for name, entry in models.items():
        ctx.log(f"  {name:<22} test macro F1 {entry['test']['macro_f1']:.3f}  accuracy {entry['test']['accuracy']:.3f}")
    return {"student_test_macro_f1": models["student"]["test"]["macro_f1"]}


# ------------------------------------------------------------------------------------------------- driver


def _stage_fingerprints(ctx: RunContext) -> dict[str, str]:
    c = ctx.config
    if not ctx.data_path.is_file():
        raise DataError(f"{ctx.data_path}: file not found", hint="give the path of a CSV, JSONL or Parquet file")
    data = fingerprint(
        "data",
        file_digest(ctx.data_path),
        c.columns.model_dump(mode="json"),
        c.input_map.model_dump(mode="json"),
        c.data_rules.model_dump(mode="json"),
        c.render.model_dump(mode="json"),
        c.split.model_dump(mode="json"),
        c.label_names,
        ctx.seed,
        c.fast.max_train_rows if ctx.fast else None,
    )
    hook_files = sorted({spec.partition(":")[0] for spec in c.hooks.values()})
    hook_digests = {name: file_digest(ctx.pack.root / name) for name in hook_files if (ctx.pack.root / name).is_file()}
    teachers = fingerprint(
        "teachers", data, [t.model_dump(mode="json") for t in c.teachers], c.student.max_length, hook_digests
    )
    distill = fingerprint("distill", teachers, c.student.model_dump(mode="json"), c.distill.model_dump(mode="json"))
    evaluate = fingerprint("evaluate", distill, [t.model_dump(mode="json") for t in c.targets])
    return {"data": data, "teachers": teachers, "distill": distill, "evaluate": evaluate}


def run(request: RunRequest, log: Log = print) -> RunResult:
    """Run every stage whose inputs changed; return where the report is."""
    hf_logging.set_verbosity_error()
    ctx = prepare_context(request, log)
    fingerprints = _stage_fingerprints(ctx)
    stages: dict[str, Callable[[], dict]] = {
        "data": lambda: stage_data(ctx),
        "teachers": lambda: stage_teachers(ctx, fingerprints["teachers"]),
        "distill": lambda: stage_distill(ctx),
        "evaluate": lambda: stage_evaluate(ctx),
    }
    for name, stage in stages.items():
        if ctx.manifest.stage_is_current(name, fingerprints[name]):
            log(f"[{name}] unchanged since the last run, skipped")
            continue
        log(f"[{name}] running")
        started = time.perf_counter()
        details = stage()
        ctx.manifest.record_stage(name, fingerprints[name], time.perf_counter() - started, **details)
    metrics = json.loads(ctx.path("report", "metrics.json").read_text(encoding="utf-8"))
    return RunResult(run_dir=ctx.run_dir, report_path=ctx.path("report", "report.md"), metrics=metrics)
