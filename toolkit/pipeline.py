"""The run: stages that talk through files in `runs/<name>/`, each skipped when its inputs and config are unchanged.

    data      -> data/{train,validation,test}.parquet, data/validation_report.json
    teachers  -> teachers/<name>/probs.npz (+ the trained teacher), teachers/ensemble/probs.npz
    filter    -> filter/kept.parquet, filter/rejected.parquet, filter/label_issues.csv, reward model, generator
    distill   -> student/adapter, student/merged, student/probs.npz, student/history.json
    evaluate  -> report/metrics.json, report/report.md, report/report.html, report/MODEL_CARD.md
    compress  -> export/<variant>/ (merged, pruned, INT8, ONNX), export/compression.md, export/deploy.json

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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from transformers import set_seed
from transformers.utils import logging as hf_logging

from toolkit.compress.stage import run_compress
from toolkit.config import FastSpec, FilterSpec, PackConfig, apply_overrides
from toolkit.data.column_map import INPUT_CONTRACT, input_contract, read_input_contract
from toolkit.data.loading import read_table
from toolkit.data.splits import SPLITS, split_frame
from toolkit.data.validation import check_truncation, validate_frame
from toolkit.decision.evaluation import add_selective_entries
from toolkit.decision.from_run import cascade_report, deferral_inputs, fit_scope
from toolkit.decision.words import deferral_sentence
from toolkit.distill.fit import Split
from toolkit.distill.selection import FINETUNE, best_distilled
from toolkit.distill.stage import filter_feeds_distill, run_distill
from toolkit.distributed import barrier, is_main_process, process_share
from toolkit.errors import ConfigError, DataError
from toolkit.filtering.stage import resource_paths, run_filter
from toolkit.manifest import Manifest, environment_versions, file_digest, fingerprint, machine_summary, now
from toolkit.metrics.baselines import FINETUNE_BASELINE, baseline_names, versus_baselines
from toolkit.metrics.classification import check_targets, classification_metrics, majority_probabilities
from toolkit.metrics.evaluation import evaluate_model
from toolkit.metrics.html_report import write_html_report
from toolkit.metrics.model_card import write_model_card
from toolkit.metrics.report import METRICS_SCHEMA_VERSION, write_metrics, write_report
from toolkit.packs import Pack, load_pack
from toolkit.run_context import Log, RunContext, fit_rules, load_probs, load_split, open_run
from toolkit.safe_io import RunLock, atomic_path, atomic_write_text
from toolkit.teachers.base import build_teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.ensemble import ensemble_roles
from toolkit.teachers.labeling import label_texts
from toolkit.threads import apply_threads
from toolkit.timing import Meter, stage_timings
from toolkit.transformer_models import load_tokenizer


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: `domain-distill run --domain D [--data F] [--out DIR] [--fast] [--seed S]`."""

    domain: str
    data: Path | None = None
    out: Path | None = None
    fast: bool = False
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # CPU threads of every pool in this process; None: the cores it may use
    profile: bool = False  # the report's stage timings break the filter, distill and compress stages into steps


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    report_path: Path
    metrics: dict | None  # None until the evaluate stage has run


def effective_config(config: PackConfig, fast: bool) -> PackConfig:
    """The pack config with `--fast` reductions applied (shorter inputs, fewer epochs)."""
    if not fast:
        return config
    f = config.fast
    teachers = []
    for t in config.teachers:
        if t.kind == "hf":
            epochs = min(float(t.options.get("epochs", f.teacher_epochs)), f.teacher_epochs)
            t = t.model_copy(update={"options": {**t.options, "epochs": epochs}})
        teachers.append(t)
    return config.model_copy(
        update={
            "teachers": teachers,
            "student": config.student.model_copy(update={"max_length": min(config.student.max_length, f.max_length)}),
            "distill": config.distill.model_copy(update={"epochs": min(config.distill.epochs, f.student_epochs)}),
            "filter": _fast_filter(config, f),
            "compress": config.compress.model_copy(
                update={
                    "latency": config.compress.latency.model_copy(
                        update={"texts": min(config.compress.latency.texts, f.latency_texts)}
                    )
                }
            ),
        }
    )


def _fast_filter(config: PackConfig, f: FastSpec) -> FilterSpec:
    spec = config.filter
    g = spec.generator
    return spec.model_copy(
        update={
            "reward": spec.reward.model_copy(
                update={
                    "epochs": min(spec.reward.epochs, f.reward_epochs),
                    "agreement_pairs": min(spec.reward.agreement_pairs, f.agreement_pairs),
                    "generated_pairs": min(spec.reward.generated_pairs, f.generated_pairs),
                }
            ),
            "generator": g.model_copy(
                update={
                    "sft_epochs": min(g.sft_epochs, f.generator_epochs),
                    "ppo_episodes": min(g.ppo_episodes, f.ppo_episodes),
                    "samples": min(g.samples, f.generated_samples),
                }
            ),
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
    check_truncation(frame, config, report, load_tokenizer(config.student.model))
    if report.truncated:
        ctx.log(f"data: warning: {report.warnings[-1].message}")
    ctx.path("data").mkdir(parents=True, exist_ok=True)
    contract = ctx.path("data", INPUT_CONTRACT)
    contract.unlink(missing_ok=True)
    if config.columns.fields != ctx.config.columns.fields:  # `*=fields` typed the table's columns: keep the types
        atomic_write_text(contract, json.dumps(input_contract(config)))
    atomic_write_text(ctx.path("data", "validation_report.json"), json.dumps(report.to_dict(), indent=2))
    report.raise_if_errors()
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
        with atomic_path(ctx.path("data", f"{name}.parquet")) as temporary:
            part.to_parquet(temporary, index=False)
    sizes = {name: len(part) for name, part in parts.items()}
    ctx.log(
        f"data: {report.rows_read} rows read, {len(report.dropped)} dropped (listed in the report), "
        f"split {sizes['train']} / {sizes['validation']} / {sizes['test']}"
    )
    return {"split_sizes": sizes, "dropped": len(report.dropped), "warnings": len(report.warnings)}


def _fit_teacher(ctx: RunContext, spec, splits: dict[str, Split], fit_key: str):
    """Build a teacher and fit it, or restore it when this run already fitted it with the same inputs."""
    folder = ctx.path("teachers", spec.name)
    marker = folder / "fitted.json"
    set_seed(ctx.seed)
    teacher = build_teacher(
        spec,
        ctx.labels,
        seed=ctx.seed,
        max_length=ctx.config.student.max_length,
        pack=ctx.pack,
        fields=ctx.config.columns.fields,
    )
    fitted_before = marker.is_file() and json.loads(marker.read_text())["key"] == fit_key
    barrier()  # every process decided before the main one writes the marker
    if fitted_before:
        teacher.load(folder)
        ctx.log(f"teacher {spec.name}: fitted earlier in this run, restored")
        return teacher
    started = time.perf_counter()
    ctx.log(f"teacher {spec.name} ({spec.kind}): fitting on {len(splits['train'].texts)} rows")
    teacher.fit(splits["train"], splits["validation"], folder)
    if is_main_process():
        folder.mkdir(parents=True, exist_ok=True)
        teacher.save(folder)
        atomic_write_text(marker, json.dumps({"key": fit_key, "seconds": round(time.perf_counter() - started, 2)}))
    barrier()
    return teacher


def stage_teachers(ctx: RunContext, stage_fingerprint: str) -> dict:
    """Fit each teacher, label every split through the cache, then combine them every ensemble way."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    all_texts = [t for name in SPLITS for t in splits[name].texts]
    all_rows = pd.concat([splits[name].rows for name in SPLITS], ignore_index=True)
    bounds = np.cumsum([0] + [len(splits[name].texts) for name in SPLITS])
    cache = TeacherCache(ctx.path("teachers", "cache.sqlite"))
    summary: dict[str, dict] = {}
    per_teacher: list[dict[str, np.ndarray]] = []
    y_val = splits["validation"].labels
    for spec in ctx.config.teachers:
        teacher = _fit_teacher(ctx, spec, splits, fingerprint(stage_fingerprint, spec.model_dump(mode="json")))
        probs, stats = label_texts(
            teacher,
            all_texts,
            cache,
            rows=all_rows,
            show_progress=ctx.progress,
            description=f"labeling with {spec.name}",
        )
        by_split = {name: probs[bounds[k] : bounds[k + 1]] for k, name in enumerate(SPLITS)}
        if is_main_process():
            with atomic_path(ctx.path("teachers", spec.name, "probs.npz")) as temporary:
                np.savez_compressed(temporary, **by_split)
        per_teacher.append(by_split)
        val = classification_metrics(y_val, by_split["validation"], ctx.labels)
        summary[spec.name] = {
            "kind": spec.kind,
            "validation_macro_f1": val["macro_f1"],
            "labeling": {
                "texts": stats.texts,
                "from_cache": stats.from_cache,
                "computed": stats.computed,
                "seconds": round(stats.seconds, 2),
                "texts_per_second": round(stats.texts_per_second, 1),
            },
        }
        ctx.log(
            f"teacher {spec.name}: validation macro F1 {val['macro_f1']:.3f}; labeled {stats.computed} texts "
            f"({stats.from_cache} from cache) at {stats.texts_per_second:,.1f} texts/s"
        )
    cache.close()
    ensembles = combine_teachers(ctx, per_teacher, y_val)
    for method, (probs, details) in ensembles.items():
        f1 = classification_metrics(y_val, probs["validation"], ctx.labels)["macro_f1"]
        summary[f"ensemble_{method}"] = {"kind": "ensemble", "validation_macro_f1": f1, **details}
        ctx.log(f"ensemble {method}: validation macro F1 {f1:.3f}")
    chosen = ctx.config.ensemble.method
    summary["student_learns_from"] = f"ensemble_{chosen}"
    if is_main_process():
        for method, (probs, _) in [*ensembles.items(), ("", ensembles[chosen])]:
            folder = ctx.path("teachers", f"ensemble_{method}" if method else "ensemble")
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / "probs.npz") as temporary:
                np.savez_compressed(temporary, **probs)
        atomic_write_text(ctx.path("teachers", "summary.json"), json.dumps(summary, indent=2))
    return {"teachers": summary}


def combine_teachers(ctx: RunContext, per_teacher: list[dict[str, np.ndarray]], y_val: np.ndarray) -> dict:
    """Every ensemble method's probabilities per split, with what was fitted on validation."""
    names = [spec.name for spec in ctx.config.teachers]
    on = {name: [p[name] for p in per_teacher] for name in SPLITS}
    rules = fit_rules(ctx, on["validation"], y_val)
    return {
        method: ({n: rule.combine(on[n]) for n in SPLITS}, rule.details(names, on)) for method, rule in rules.items()
    }


def stage_evaluate(ctx: RunContext) -> dict:
    """Metrics for the majority baseline, every teacher, the ensemble and the student; report files."""
    splits = {name: load_split(ctx, name) for name in SPLITS}
    n_classes = len(ctx.labels)
    sources: dict[str, tuple[str, dict[str, np.ndarray]]] = {
        "majority_baseline": (
            "baseline",
            {n: majority_probabilities(splits["train"].labels, len(splits[n].labels), n_classes) for n in SPLITS},
        ),
    }
    for spec in ctx.config.teachers:
        sources[spec.name] = (f"teacher ({spec.kind})", load_probs(ctx.path("teachers", spec.name, "probs.npz")))
    for method, role in ensemble_roles().items():
        used = " — the student's soft targets" if method == ctx.config.ensemble.method else ""
        sources[f"ensemble_{method}"] = (
            f"ensemble ({role}){used}",
            load_probs(ctx.path("teachers", f"ensemble_{method}", "probs.npz")),
        )
    selection = _read_json(ctx.path("student", "selection.json"))
    finetune = ctx.path("student", "candidates", FINETUNE, "probs.npz")
    if finetune.is_file():
        sources[FINETUNE_BASELINE] = (
            f"baseline: plain fine-tune of {ctx.config.student.model} on gold labels",
            load_probs(finetune),
        )
    chosen = next((c for c in selection["candidates"] if c["name"] == selection["chosen"]), None) if selection else None
    sources["student"] = (
        f"student, deployed: {chosen['name']} ({chosen['description']})" if chosen else "student",
        load_probs(ctx.path("student", "probs.npz")),
    )
    hook = ctx.pack.hook("metrics") if ctx.pack.has_hook("metrics") else None
    y_val, y_test = splits["validation"].labels, splits["test"].labels
    models = {
        name: {
            "role": role,
            **evaluate_model(y_val, probs["validation"], y_test, probs["test"], ctx.config, hook, seed=ctx.seed),
        }
        for name, (role, probs) in sources.items()
    }
    distilled = best_distilled(selection) if selection else "student"
    distilled_probs = (
        ctx.path("student", "candidates", distilled, "probs.npz") if selection else ctx.path("student", "probs.npz")
    )
    scope = fit_scope(ctx)
    deferral = deferral_inputs(ctx, scope)
    reference = add_selective_entries(models, {name: probs for name, (_, probs) in sources.items()}, deferral)
    payload = {
        "domain": ctx.pack.name,
        "data": str(ctx.data_path),
        "seed": ctx.seed,
        "fast": ctx.fast,
        "labels": ctx.labels,
        "critical_label": ctx.config.critical_label,
        "split_sizes": {name: len(splits[name].labels) for name in SPLITS},
        "models": models,
        "targets": models["student"]["policy"]["targets"],
        "targets_at_argmax": check_targets(models["student"]["test"], ctx.config.targets),
        "reference_accuracy": reference,
        "selection": selection,
        "distilled": distilled,
        "versus_baselines": versus_baselines(
            load_probs(distilled_probs),
            {name: sources[name][1] for name in baseline_names(ctx.config, sources)},
            {"validation": y_val, "test": y_test},
            ctx.labels,
            seed=ctx.seed,
        ),
    }
    if ctx.config.deferral.enabled:
        _, payload["deferral"] = cascade_report(ctx, deferral, scope, sources["student"][1])
        payload["deferral"]["sentence"] = deferral_sentence(payload["deferral"], ctx.config)
    if filter_feeds_distill(ctx.config) and ctx.config.filter.use_for_distill:
        summary = json.loads(ctx.path("filter", "summary.json").read_text(encoding="utf-8"))
        payload["filter"] = {key: summary[key] for key in ("reward_model", "ppo", "candidates", "label_issues")}
    write_metrics(ctx.path("report", "metrics.json"), payload)
    write_report(ctx.path("report", "report.md"), payload)
    write_html_report(ctx.path("report", "report.html"), payload, y_test, sources["student"][1]["test"])
    write_model_card(ctx.path("report", "MODEL_CARD.md"), payload, ctx.config, ctx.manifest.data)
    for name, entry in models.items():
        ctx.log(f"  {name:<22} test macro F1 {entry['test']['macro_f1']:.3f}  accuracy {entry['test']['accuracy']:.3f}")
    if "deferral" in payload:
        ctx.log(f"  cascade: {payload['deferral']['sentence']}")
    return {"student_test_macro_f1": models["student"]["test"]["macro_f1"]}


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ------------------------------------------------------------------------------------------------- driver


def _hook_digest(pack: Pack, config: PackConfig, name: str) -> str | None:
    """The hook's file, so that editing a pack's rules re-runs the teachers and editing its metrics only the
    evaluation."""
    path = pack.root / config.hooks[name].partition(":")[0] if name in config.hooks else None
    return file_digest(path) if path is not None and path.is_file() else None


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

    def hook_digest(name: str) -> str | None:
        return _hook_digest(ctx.pack, c, name)

    teachers = fingerprint(
        "teachers",
        data,
        [t.model_dump(mode="json") for t in c.teachers],
        c.ensemble.model_dump(mode="json"),
        c.student.max_length,
        [label.model_dump(mode="json") for label in c.labels],  # LLM teachers and filter pairs read descriptions
        hook_digest("rules"),
    )
    preferences, pool = resource_paths(ctx)
    filter_ = fingerprint(
        "filter",
        teachers,
        c.filter.model_dump(mode="json", exclude={"use_for_distill": True, "label_issues": {"drop"}}),  # distill's
        c.student.model,
        [file_digest(p) if p and p.is_file() else str(p) for p in (preferences, pool)],
    )
    distill = fingerprint(
        "distill",
        teachers,
        c.student.model_dump(mode="json"),
        c.distill.model_dump(mode="json"),
        c.recipe_search.model_dump(mode="json"),
        c.critical_label,  # the primary metric may be its recall, which picks checkpoints and candidates
        c.fast.recipe_variants if ctx.fast else None,
        [filter_, c.filter.use_for_distill, c.filter.label_issues.drop] if filter_feeds_distill(c) else None,
    )
    evaluate = fingerprint(
        "evaluate",
        distill,
        [t.model_dump(mode="json") for t in c.targets],
        c.ordinal,
        c.critical_label,
        c.cost_matrix,
        c.deferral.model_dump(mode="json"),
        c.model_card.model_dump(mode="json"),
        c.description,
        hook_digest("metrics"),
        METRICS_SCHEMA_VERSION,
    )
    compress = compress_fingerprint(c, distill, hook_digest("metrics"))
    return {
        "data": data,
        "teachers": teachers,
        "filter": filter_,
        "distill": distill,
        "evaluate": evaluate,
        "compress": compress,
    }


def compress_fingerprint(config: PackConfig, distill_fingerprint: str, metrics_hook: str | None) -> str:
    """The compress stage's inputs: the student, how to compress and measure it, and what the choice is held to."""
    return fingerprint(
        "compress",
        distill_fingerprint,
        config.compress.model_dump(mode="json"),
        [t.model_dump(mode="json") for t in config.targets],
        config.deferral.model_dump(mode="json"),
        config.distill.primary_metric,
        [config.ordinal, config.critical_label, config.cost_matrix],  # the decision policy and cascade read them
        metrics_hook,
        METRICS_SCHEMA_VERSION,
    )


MAIN_PROCESS_STAGES = ("data", "evaluate", "compress")


def stage_filter(ctx: RunContext, stage_fingerprint: str) -> dict:
    """Reward model, PPO generator, selection and label issues (toolkit.filtering); one process only."""
    if process_share()[1] > 1:
        raise ConfigError(
            "the filter stage runs in a single process, and this run was launched with several",
            hint="run it once in one process (finished stages are reused later) or set filter.enabled=false",
        )
    return run_filter(ctx, stage_fingerprint)


STAGES = ("data", "teachers", "filter", "distill", "evaluate", "compress")


def _quiet_transformers() -> None:
    """Errors only, and no bars for loading or writing weights (dozens per run); training keeps its own log."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def run(request: RunRequest, log: Log = print, until: str | None = None) -> RunResult:
    """Run every stage whose inputs changed, up to and including `until` (default: all); return where the report
    is. A notebook runs the path stage by stage this way, each one continuing in the same run folder."""
    if until is not None and until not in STAGES:
        raise ConfigError(f"until={until!r} is not a stage; stages in order: {', '.join(STAGES)}")
    _quiet_transformers()
    with run_lock(Path(request.out) if request.out else Path("runs") / load_pack(request.domain).name):
        return _run_stages(request, log, until)


def run_lock(run_dir: Path) -> AbstractContextManager:
    """The run folder's lock, taken by the one process that writes it (the main one under accelerate)."""
    return RunLock(run_dir) if is_main_process() else nullcontext()


def _run_stages(request: RunRequest, log: Log, until: str | None) -> RunResult:
    started_run = time.perf_counter()
    threads = apply_threads(request.threads)
    ctx = prepare_context(request, log if is_main_process() else (lambda _: None))
    if is_main_process():
        ctx.manifest.update(threads=threads)
    fingerprints = _stage_fingerprints(ctx)
    stages: dict[str, Callable[[], dict]] = {
        "data": lambda: stage_data(ctx),
        "teachers": lambda: stage_teachers(ctx, fingerprints["teachers"]),
        "filter": lambda: stage_filter(ctx, fingerprints["filter"]),
        "distill": lambda: run_distill(ctx, fingerprints["distill"]),
        "evaluate": lambda: stage_evaluate(ctx),
        "compress": lambda: run_compress(ctx, fingerprints["compress"]),
    }
    main = is_main_process()
    last = STAGES.index(until) if until else len(STAGES) - 1
    ran: set[str] = set()
    for name, stage in list(stages.items())[: last + 1]:
        if name in ("filter", "compress") and not getattr(ctx.config, name).enabled:
            ctx.log(f"[{name}] off ({name}.enabled: false)")
            continue
        if ctx.manifest.stage_is_current(name, fingerprints[name]):
            ctx.log(f"[{name}] unchanged since the last run, skipped")
        else:
            ctx.log(f"[{name}] running")
            if main:
                ctx.manifest.start_stage(name, fingerprints[name])
            with Meter() as meter:
                # under accelerate / torchrun every process trains and labels; data and evaluation run once
                details = stage() if main or name not in MAIN_PROCESS_STAGES else {}
                barrier()
            ran.add(name)
            if main:
                ctx.manifest.record_stage(name, fingerprints[name], meter.seconds, **meter.record(), **details)
        if name == "data":
            _adopt_input_contract(ctx)
    metrics = _add_timings(ctx, ran, time.perf_counter() - started_run, request.profile) if main else None
    return RunResult(run_dir=ctx.run_dir, report_path=ctx.path("report", "report.md"), metrics=metrics)


def _add_timings(ctx: RunContext, ran: set[str], wall_seconds: float, profile: bool) -> dict | None:
    """The stage timings of this invocation, written into metrics.json and the report (both written by evaluate,
    before compress ran: they are completed here)."""
    stages = ctx.manifest.data["stages"]
    rows = sum(stages.get("data", {}).get("split_sizes", {}).values())
    timings = stage_timings(stages, list(STAGES), ran, rows, wall_seconds)
    ctx.manifest.update(timings=timings)
    metrics_path = ctx.path("report", "metrics.json")
    if not metrics_path.is_file():
        return None
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics["timings"] = timings
    metrics["timings_with_steps"] = profile
    write_metrics(metrics_path, {k: v for k, v in metrics.items() if k != "schema_version"})
    write_report(ctx.path("report", "report.md"), metrics)
    return metrics


def _adopt_input_contract(ctx: RunContext) -> None:
    """The fields the data stage typed (`*=fields`) become part of the run's config for every later stage."""
    contract = ctx.path("data", INPUT_CONTRACT)
    if contract.is_file():
        ctx.config = read_input_contract(ctx.config, contract)
        if is_main_process():
            ctx.manifest.update(config=ctx.config.model_dump(mode="json"))


def compress_run(
    run_dir: Path,
    overrides: dict[str, Any] | None = None,
    log: Log = print,
    remeasure: bool = False,
    pack: str | Path | None = None,
) -> Path:
    """`domain-distill compress --run DIR`: the compress stage alone, on a run whose student is trained, with the
    config the run stored (plus `overrides`, e.g. {"compress.prune.budget": 0.3}). `remeasure` times and evaluates
    the built variants again. Returns the export folder."""
    _quiet_transformers()
    with run_lock(Path(run_dir)):
        return _compress_only(Path(run_dir), overrides, log, remeasure, pack)


def _compress_only(
    run_dir: Path, overrides: dict[str, Any] | None, log: Log, remeasure: bool, pack: str | Path | None
) -> Path:
    manifest = Manifest.open(run_dir)
    stages = manifest.data.get("stages", {})
    if stages.get("distill", {}).get("status") != "done":
        raise ConfigError(
            f"{run_dir}: no trained student here (no finished distill stage in manifest.json)",
            hint="run `domain-distill run --domain <pack> --out <folder>` first",
        )
    ctx = open_run(Path(run_dir), overrides, log, pack)
    config, pack = ctx.config, ctx.pack
    stage_fingerprint = compress_fingerprint(
        config, stages["distill"]["fingerprint"], _hook_digest(pack, config, "metrics")
    )
    if ctx.manifest.stage_is_current("compress", stage_fingerprint) and not remeasure:
        log("[compress] unchanged since the last run, skipped")
    else:
        log("[compress] running")
        ctx.manifest.start_stage("compress", stage_fingerprint)
        started = time.perf_counter()
        details = run_compress(ctx, stage_fingerprint, remeasure)
        ctx.manifest.record_stage("compress", stage_fingerprint, time.perf_counter() - started, **details)
    return ctx.path("export")
