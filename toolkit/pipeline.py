"""The run: stages that talk through files in `runs/<name>/`, each skipped when its inputs and config are unchanged.

    data      toolkit/data/stage.py        data/{train,validation,test}.parquet, data/validation_report.json
    teachers  toolkit/teachers/stage.py    teachers/<name>/probs.npz (+ the fitted teacher), teachers/ensemble/
    filter    toolkit/filtering/stage.py   filter/kept.parquet, rejected.parquet, label_issues.csv, reward model
    distill   toolkit/distill/stage.py     student/adapter, merged, probs.npz, history.json, selection.json
    evaluate  toolkit/metrics/stage.py     report/metrics.json, report.md, report.html, MODEL_CARD.md
    compress  toolkit/compress/stage.py    export/<variant>/, export/compression.md, export/deploy.json

Each stage module gives `fingerprint(ctx, upstream)` (its cache key) and `run(ctx)`; this module runs them in
order, under the run folder's lock, and records each in the manifest. toolkit/run_layout.py names every file.

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
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from toolkit.compress import stage as compress_stage
from toolkit.config import apply_overrides
from toolkit.data import stage as data_stage
from toolkit.device_defaults import for_device
from toolkit.distill import stage as distill_stage
from toolkit.distributed import barrier, is_main_process
from toolkit.errors import ConfigError
from toolkit.fast import effective_config
from toolkit.filtering import stage as filter_stage
from toolkit.heap import older_objects_frozen
from toolkit.logs import logging_stage, stage_log
from toolkit.manifest import Manifest, environment_versions, machine_summary, now
from toolkit.metrics import stage as evaluate_stage
from toolkit.metrics.report import write_metrics, write_report
from toolkit.packs import Pack
from toolkit.quiet import quiet_third_party
from toolkit.run_context import Log, RunContext, Stage, always, open_run
from toolkit.run_request import RunRequest, RunResult, request_pack, resolve_data_path
from toolkit.safe_io import RunLock
from toolkit.teachers import stage as teachers_stage
from toolkit.threads import apply_threads
from toolkit.timing import Meter, stage_timings

STAGES: tuple[Stage, ...] = (
    data_stage.STAGE,
    teachers_stage.STAGE,
    filter_stage.STAGE,
    distill_stage.STAGE,
    evaluate_stage.STAGE,
    compress_stage.STAGE,
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def prepare_context(request: RunRequest, log: Log = stage_log, pack: Pack | None = None) -> RunContext:
    """The run's context: the pack, its config with the request's overrides, `--fast` and the machine's training
    caps applied, the run folder and its manifest (which records what was asked)."""
    pack = pack or request_pack(request)
    config = apply_overrides(pack.config, request.overrides) if request.overrides else pack.config
    config = for_device(effective_config(config, request.fast))
    run_dir = request.run_dir(pack.name)
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
        data_path=resolve_data_path(request, pack, run_dir),
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


def stage_fingerprints(ctx: RunContext, stages: Sequence[Stage] = STAGES, upstream: dict | None = None) -> dict:
    """Every stage's cache key, in order, each from the keys before it (`upstream`: those of stages not listed,
    e.g. the distill key a compress-only run reads from the manifest)."""
    keys: dict[str, str] = dict(upstream or {})
    for stage in stages:
        keys[stage.name] = stage.fingerprint(ctx, keys)
    return keys


def stage_action(ctx: RunContext, stage: Stage, force: bool = False) -> str:
    """What the driver does with `stage` now: "off" (the config turns it off), "reuse" (its key is the one its last
    finished run recorded) or "run"."""
    if not stage.enabled(ctx.config):
        return "off"
    if ctx.manifest.stage_is_current(stage.name, ctx.fingerprints[stage.name]) and not force:
        return "reuse"
    return "run"


def run_stages(ctx: RunContext, stages: Sequence[Stage], force: bool = False) -> set[str]:
    """Run each stage of `stages` whose key (in `ctx.fingerprints`) is not the one its last run recorded, or every
    enabled one with `force`; returns the names of those that ran. Under accelerate / torchrun every process calls
    this; stages marked `main_process_only` run in the main one while the others wait."""
    main = is_main_process()
    ran: set[str] = set()
    for stage in stages:
        with logging_stage(stage.name):
            if _run_stage(ctx, stage, force, main):
                ran.add(stage.name)
    return ran


def _run_stage(ctx: RunContext, stage: Stage, force: bool, main: bool) -> bool:
    key = ctx.fingerprints[stage.name]
    action = stage_action(ctx, stage, force)
    if action == "off":
        ctx.log(f"[{stage.name}] off ({stage.name}.enabled: false)")
        return False
    if action == "reuse":
        ctx.log(f"[{stage.name}] unchanged since the last run, skipped")
    else:
        ctx.log(f"[{stage.name}] running")
        if main:
            ctx.manifest.start_stage(stage.name, key)
        with Meter() as meter, older_objects_frozen():
            details = stage.run(ctx) if main or not stage.main_process_only else {}
            barrier()
        if main:
            ctx.manifest.record_stage(stage.name, key, meter.seconds, **meter.record(), **details)
    if stage.after is not None:
        stage.after(ctx)
    return action == "run"


def run(request: RunRequest, log: Log = stage_log, until: str | None = None) -> RunResult:
    """Run every stage whose inputs changed, up to and including `until` (default: all); return where the report
    is. A notebook runs the path stage by stage this way, each one continuing in the same run folder.

    >>> from toolkit import RunRequest, run
    >>> result = run(RunRequest(domain="medical_triage", fast=True))  # doctest: +SKIP
    >>> result.metrics["models"]["student"]["test"]["macro_f1"]  # doctest: +SKIP
    0.86
    """
    if until is not None and until not in STAGE_NAMES:
        raise ConfigError(f"until={until!r} is not a stage; stages in order: {', '.join(STAGE_NAMES)}")
    pack = request_pack(request)
    with run_lock(request.run_dir(pack.name)), quiet_third_party():
        return _run(request, pack, log, until)


def run_lock(run_dir: Path) -> AbstractContextManager:
    """The run folder's lock, taken by the one process that writes it (the main one under accelerate)."""
    return RunLock(run_dir) if is_main_process() else nullcontext()


def _run(request: RunRequest, pack: Pack, log: Log, until: str | None) -> RunResult:
    started_run = time.perf_counter()
    threads = apply_threads(request.threads)
    ctx = prepare_context(request, log if is_main_process() else (lambda _: None), pack)
    if is_main_process():
        ctx.manifest.update(threads=threads)
    ctx.fingerprints = stage_fingerprints(ctx)
    last = STAGE_NAMES.index(until) if until else len(STAGES) - 1
    ran = run_stages(ctx, STAGES[: last + 1])
    main = is_main_process()
    metrics = _add_timings(ctx, ran, time.perf_counter() - started_run, request.profile) if main else None
    return RunResult(run_dir=ctx.run_dir, report_path=ctx.layout.report_markdown, metrics=metrics)


def _add_timings(ctx: RunContext, ran: set[str], wall_seconds: float, profile: bool) -> dict | None:
    """The stage timings of this invocation, written into metrics.json and the report (both written by evaluate,
    before compress ran: they are completed here)."""
    stages = ctx.manifest.data["stages"]
    rows = sum(stages.get("data", {}).get("split_sizes", {}).values())
    timings = stage_timings(stages, list(STAGE_NAMES), ran, rows, wall_seconds)
    ctx.manifest.update(timings=timings)
    metrics_path = ctx.layout.metrics
    if not metrics_path.is_file():
        return None
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics["timings"] = timings
    metrics["timings_with_steps"] = profile
    write_metrics(metrics_path, {k: v for k, v in metrics.items() if k != "schema_version"})
    write_report(ctx.layout.report_markdown, metrics)
    return metrics


def compress_run(
    run_dir: Path,
    overrides: dict[str, Any] | None = None,
    log: Log = stage_log,
    remeasure: bool = False,
    pack: str | Path | None = None,
) -> Path:
    """`domain-distill compress --run DIR`: the compress stage alone, on a run whose student is trained, with the
    config the run stored (plus `overrides`, e.g. {"compress.prune.budget": 0.3}). `remeasure` times and evaluates
    the built variants again. Returns the export folder.

    >>> compress_run(Path("runs/medical_triage"), {"compress.prune.budget": 0.3})  # doctest: +SKIP
    PosixPath('runs/medical_triage/export')
    """
    with run_lock(Path(run_dir)), quiet_third_party():
        return _compress_only(Path(run_dir), overrides, log, remeasure, pack)


def _compress_only(
    run_dir: Path, overrides: dict[str, Any] | None, log: Log, remeasure: bool, pack: str | Path | None
) -> Path:
    stages = Manifest.open(run_dir).data.get("stages", {})
    if stages.get("distill", {}).get("status") != "done":
        raise ConfigError(
            f"{run_dir}: no trained student here (no finished distill stage in manifest.json)",
            hint="run `domain-distill run --domain <pack> --out <folder>` first",
        )
    ctx = open_run(run_dir, overrides, log, pack)
    # asked for by name: it runs even where the run's config turned the stage off
    compress = replace(compress_stage.STAGE, run=partial(compress_stage.run, remeasure=remeasure), enabled=always)
    ctx.fingerprints = stage_fingerprints(ctx, [compress], upstream={"distill": stages["distill"]["fingerprint"]})
    run_stages(ctx, [compress], force=remeasure)
    return ctx.layout.export
