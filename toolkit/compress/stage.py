"""Stage 6 of a run: the deployable student in `runs/<name>/export/`.

    student_fp32/            the LoRA adapter merged into the weights (merge_and_unload): the uncompressed student
    pruned_fp32/             the least important attention heads removed (loss-aware, checked on validation)
    torch_int8/              PyTorch dynamic INT8 of the pruned model
    onnx_fp32/ onnx_int8/ onnx_int4/    ONNX export of the pruned model; ONNX Runtime INT8 and INT4 weight-only
    metrics.json             every variant's figures (the schema of report/metrics.json `models`), size, latency
    compression.md / .png    size, quality and CPU latency side by side with the teacher ensemble; the choice
    deploy.json              what `domain-distill predict` loads: the chosen variant, every variant's decision
                             policy, and the data contract

Every step is recorded in `export/progress.json`, so a crash costs only the step it interrupted.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from peft import PeftModel

from toolkit.compress.heads import choose_heads, head_importance, prune_heads
from toolkit.compress.latency import measure_latency, set_threads, token_lengths
from toolkit.compress.quantize import export_onnx, quantize_int8, quantize_onnx_int4, quantize_onnx_int8, save_int8
from toolkit.compress.report import choose_variant, write_compression_report
from toolkit.compress.runtime import TEACHER_VARIANT_FILE, folder_size, load_variant, softmax
from toolkit.compress.variants import COMPRESSION_VARIANTS, VariantJob, register_variant, variant_plan
from toolkit.config import CompressSpec
from toolkit.data.splits import SPLITS, Split
from toolkit.decision.cascade import Cascade
from toolkit.decision.evaluation import evaluate_cascade
from toolkit.decision.from_run import cascade_latency, deferral_inputs, ensemble_servable, load_scope
from toolkit.distill.fit import FitSettings, device_batch, fit_classifier
from toolkit.distill.recipe import validation_value
from toolkit.distill.selection import shipped_teacher
from toolkit.distill.student import build_student
from toolkit.manifest import Progress, cpu_name, now
from toolkit.manifest import fingerprint as hash_parts
from toolkit.metrics.evaluation import evaluate_model
from toolkit.metrics.report import METRICS_SCHEMA_VERSION
from toolkit.quiet import GRADIENT_CHECKPOINTING_NOTICE, quiet_warning
from toolkit.registry import teacher_trait
from toolkit.run_context import RunContext, Stage, ensemble_rule, hook_digest, load_probs, load_split, restore_teachers
from toolkit.safe_io import atomic_folder, atomic_path, atomic_write_text
from toolkit.timing import StepClock
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_logits, predict_proba

ENSEMBLE_TIMED_TEXTS = 64  # test texts the teacher ensemble (a reference, not a variant) is timed on


def _save(model: torch.nn.Module, tokenizer, folder: Path) -> None:
    with atomic_folder(folder) as temporary:
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)


def merge_student(ctx: RunContext, tokenizer, texts: list[str]) -> tuple[torch.nn.Module, dict]:
    """The adapter loaded onto its base and merged; the logits before and after merging must agree."""
    labels, spec = ctx.labels, ctx.config.student
    adapter = ctx.layout.student_adapter
    if not (adapter / "adapter_config.json").is_file():  # full fine-tuning: nothing to merge
        return load_classifier(str(ctx.layout.student_merged), labels), {"merged": False}
    base_dir = ctx.layout.student_adapter_base
    base = (
        load_classifier(str(base_dir), labels)
        if base_dir.is_dir()
        else build_student(spec.model_copy(update={"lora": None}), labels)
    )
    with quiet_warning(GRADIENT_CHECKPOINTING_NOTICE, FutureWarning):
        with_adapter = PeftModel.from_pretrained(base, adapter)
    before = predict_logits(with_adapter, tokenizer, texts, spec.max_length)
    merged = with_adapter.merge_and_unload()
    after = predict_logits(merged, tokenizer, texts, spec.max_length)
    return merged, {"merged": True, "max_abs_logit_difference": float(np.abs(before - after).max())}


def prune_student(
    ctx: RunContext, model: torch.nn.Module, tokenizer, splits: dict[str, Split]
) -> tuple[torch.nn.Module, dict]:
    """Gradient head importance on training rows, loss-aware choice on validation, then the heads cut out (on a GPU
    when there is one; the model comes back on the CPU, where it is deployed)."""
    spec, config = ctx.config.compress.prune, ctx.config
    if torch.cuda.is_available():
        model.to("cuda")
    train, validation = splits["train"], splits["validation"]
    rows = np.random.default_rng(ctx.seed).permutation(len(train.texts))[: spec.importance_rows]
    max_length = config.student.max_length
    clock = StepClock()
    importance = head_importance(model, tokenizer, [train.texts[i] for i in rows], train.labels[rows], max_length)
    clock.lap("importance")
    critical = ctx.labels.index(config.critical_label) if config.critical_label else None
    metric = config.distill.primary_metric

    def score() -> float:
        probs = predict_proba(model, tokenizer, validation.texts, max_length)
        return validation_value(metric, np.asarray(validation.labels), probs, critical)

    choice = choose_heads(model, importance, score, spec.budget, spec.step, spec.tolerance)
    prune_heads(model, choice.heads)
    clock.lap("search")
    ctx.log(
        f"compress: pruned {choice.removed} of {choice.total} attention heads; validation {metric} "
        f"{choice.baseline:.3f} -> {choice.value:.3f} (tolerance {spec.tolerance})"
    )
    recovered, kept = None, False
    if choice.removed and spec.recovery_epochs > 0:
        before = copy.deepcopy(model.state_dict())
        recover(ctx, model, tokenizer, splits)
        recovered = score()
        kept = recovered >= choice.value  # judged on validation, like the cut itself
        if not kept:
            model.load_state_dict(before)
        ctx.log(
            f"compress: after {spec.recovery_epochs:g} epoch(s) of recovery, validation {metric} {recovered:.3f}"
            + ("" if kept else "; lower than without it, so the weights from before the recovery are kept")
        )
        clock.lap("recovery")
    return model.to("cpu"), {
        "seconds": clock.laps,
        "recovered": recovered,
        "recovery_kept": kept,
        "removed": choice.removed,
        "total": choice.total,
        "heads": {str(k): v for k, v in choice.heads.items()},
        "metric": metric,
        "baseline": choice.baseline,
        "value": choice.value,
        "history": choice.history,
        "importance": [layer.round(4).tolist() for layer in importance],
    }


def recover(ctx: RunContext, model: torch.nn.Module, tokenizer, splits: dict[str, Split]) -> None:
    """A short distillation of the pruned model on the training split (gold labels + the ensemble's soft labels,
    the recipe's temperature and α), every weight trainable: the remaining heads take over the removed ones' work."""
    recipe, spec = ctx.config.distill, ctx.config.compress.prune
    soft = load_probs(ctx.layout.ensemble_probs)
    train, validation = splits["train"], splits["validation"]
    work_dir = ctx.layout.recovery
    batch_size, learning_rate = device_batch(recipe.batch_size, spec.recovery_learning_rate, recipe.gpu_batch_size)
    settings = FitSettings(
        epochs=spec.recovery_epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=ctx.config.student.max_length,
        seed=ctx.seed,
        temperature=recipe.temperature,
        alpha=recipe.alpha,
        primary_metric=recipe.primary_metric,
        critical_index=ctx.labels.index(ctx.config.critical_label) if ctx.config.critical_label else None,
    )
    for p in model.parameters():
        p.requires_grad_(True)
    fit_classifier(
        model,
        tokenizer,
        replace(train, teacher_probs=soft["train"]),
        replace(validation, teacher_probs=soft["validation"]),
        settings,
        work_dir,
    )
    shutil.rmtree(work_dir, ignore_errors=True)


def best_pytorch(spec: CompressSpec) -> str:
    """The variant the quantized and exported ones are made from: the pruned model, when pruning is on."""
    return "pruned_fp32" if spec.prune.enabled else "student_fp32"


@register_variant("student_fp32", "LoRA merged, fp32 (PyTorch)", source="student")
def build_student_fp32(job: VariantJob) -> dict:
    model, info = merge_student(job.ctx, job.tokenizer, job.checks)
    _save(model, job.tokenizer, job.folder)
    return info


@register_variant(
    "pruned_fp32", "heads pruned, fp32 (PyTorch)", source="student_fp32", enabled=lambda c: c.prune.enabled
)
def build_pruned_fp32(job: VariantJob) -> dict:
    model, info = prune_student(
        job.ctx, load_classifier(str(job.source_folder), job.ctx.labels), job.tokenizer, job.splits
    )
    _save(model, job.tokenizer, job.folder)
    return info


@register_variant("torch_int8", "dynamic INT8 (PyTorch)", source=best_pytorch, enabled=lambda c: c.torch_int8)
def build_torch_int8(job: VariantJob) -> dict:
    save_int8(quantize_int8(load_classifier(str(job.source_folder), job.ctx.labels)), job.tokenizer, job.folder)
    return {}


@register_variant("onnx_fp32", "fp32 (ONNX Runtime)", source=best_pytorch, enabled=lambda c: c.onnx)
def build_onnx_fp32(job: VariantJob) -> dict:
    labels, max_length = job.ctx.labels, job.ctx.config.student.max_length
    model = load_classifier(str(job.source_folder), labels)
    export_onnx(model, job.tokenizer, job.folder)
    reference = predict_logits(model, job.tokenizer, job.checks, max_length)
    exported = load_variant(job.folder, labels, max_length).logits(job.checks)
    return {"max_abs_logit_difference_vs_pytorch": float(np.abs(reference - exported).max())}


@register_variant("onnx_int8", "dynamic INT8 (ONNX Runtime)", source="onnx_fp32", enabled=lambda c: c.onnx)
def build_onnx_int8(job: VariantJob) -> dict:
    quantize_onnx_int8(job.source_folder, job.folder)
    return {}


@register_variant(
    "onnx_int4", "INT4 weight-only (ONNX Runtime)", source="onnx_fp32", enabled=lambda c: c.onnx and c.onnx_int4
)
def build_onnx_int4(job: VariantJob) -> dict:
    quantize_onnx_int4(job.source_folder, job.folder)
    return {}


def ship_teacher(ctx: RunContext, name: str) -> dict:
    """The scikit-learn teacher that won the recipe selection, copied as the one variant with its config entry."""
    folder = ctx.layout.export
    shutil.rmtree(folder / name, ignore_errors=True)
    shutil.copytree(ctx.layout.teacher(name), folder / name, ignore=shutil.ignore_patterns("probs.npz", "*.json"))
    shutil.copy2(ctx.layout.teacher(name) / "teacher.json", folder / name / "teacher.json")
    spec = next(t for t in ctx.config.teachers if t.name == name)
    stored = {
        "teacher": spec.model_dump(mode="json"),
        "fields": [f.model_dump(mode="json") for f in ctx.config.columns.fields],
    }
    atomic_write_text(folder / name / TEACHER_VARIANT_FILE, json.dumps(stored, indent=2))
    return {"teacher": name, "kind": spec.kind}


def build_variant(ctx: RunContext, name: str, source: str, tokenizer, splits: dict[str, Split]) -> dict:
    """Build one variant folder from its source; returns what the report says about how it was made."""
    if source == "teacher":
        return ship_teacher(ctx, name)
    return COMPRESSION_VARIANTS.get(name).build(VariantJob(ctx, name, source, tokenizer, splits))


def build_variants(
    ctx: RunContext, plan: list[tuple[str, str, str]], progress: Progress, tokenizer, splits: dict[str, Split]
) -> dict[str, str]:
    """Build every planned variant not built yet; returns the ones that failed, with why. The first variant (what
    is deployed at the least) must build; a later one failing (an exporter that breaks on this machine's onnx, say)
    costs only itself and the variants made from it, and is tried again on the next run."""
    failed: dict[str, str] = {}
    for position, (name, _, source) in enumerate(plan):
        if progress.done(f"build:{name}"):
            continue
        if source in failed:
            failed[name] = f"not built: {source}, which it is made from, failed"
            continue
        ctx.log(f"compress: building {name} from {source}")
        try:
            progress.record(f"build:{name}", build_variant(ctx, name, source, tokenizer, splits))
        except Exception as error:  # third-party exporters fail in their own ways; the run goes on without it
            if position == 0:
                raise
            first_line = (str(error).strip().splitlines() or [""])[0][:300]
            failed[name] = f"{type(error).__name__}: {first_line}"
            shutil.rmtree(ctx.layout.export / name, ignore_errors=True)
            ctx.log(f"compress: {name} failed ({failed[name]}); the other variants go on")
    return failed


def _rows(split: Split, indices: list[int]):
    return split.rows.iloc[indices].reset_index(drop=True) if split.rows is not None else None


def ensemble_predictor(ctx: RunContext, test: Split):
    """The teacher ensemble as one callable on test-row indices, or None when a teacher is a paid API."""
    if any(teacher_trait(spec.kind, "paid") for spec in ctx.config.teachers):
        return None
    teachers, rule = restore_teachers(ctx), ensemble_rule(ctx)
    rows = test.rows.reset_index(drop=True) if test.rows is not None else None

    def predict(indices: list[int]) -> np.ndarray:
        texts = [test.texts[i] for i in indices]
        part = rows.iloc[indices].reset_index(drop=True) if rows is not None else None
        return rule.combine([t.predict_proba(texts, part) for t in teachers])

    return predict


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The compress stage's inputs: the student, how to compress and measure it, and what the choice is held to."""
    config = ctx.config
    return hash_parts(
        "compress",
        upstream["distill"],
        config.compress.model_dump(mode="json"),
        [t.model_dump(mode="json") for t in config.targets],
        config.deferral.model_dump(mode="json"),
        config.distill.primary_metric,
        [config.ordinal, config.critical_label, config.cost_matrix],  # the decision policy and cascade read them
        hook_digest(ctx, "metrics"),
        METRICS_SCHEMA_VERSION,
    )


def run(ctx: RunContext, remeasure: bool = False) -> dict:
    """The stage as the driver runs it, under the key `fingerprint` gave."""
    return run_compress(ctx, ctx.fingerprints["compress"], remeasure)


def run_compress(ctx: RunContext, stage_fingerprint: str, remeasure: bool = False) -> dict:
    """Stage 6; see the module docstring for what it writes. `remeasure` keeps the built variants and measures
    them again (e.g. on the machine that will serve them)."""
    folder = ctx.layout.export
    folder.mkdir(parents=True, exist_ok=True)
    progress = Progress(ctx.layout.export_progress, stage_fingerprint)
    if remeasure:
        progress.forget(lambda step: step.startswith(("measure:", "latency:")))
    spec, config, labels = ctx.config.compress, ctx.config, ctx.labels
    threads = set_threads(spec.latency.threads)
    splits = {name: load_split(ctx, name) for name in SPLITS}
    tokenizer = load_tokenizer(str(ctx.layout.student_merged))
    max_length = config.student.max_length
    plan = variant_plan(config, shipped_teacher(ctx.run_dir))
    failed = build_variants(ctx, plan, progress, tokenizer, splits)
    plan = [entry for entry in plan if entry[0] not in failed]
    hook = ctx.pack.hook("metrics") if ctx.pack.has_hook("metrics") else None
    y_val, y_test, test = splits["validation"].labels, splits["test"].labels, splits["test"]
    timing = config.compress.latency
    models: dict[str, dict] = {}
    ensemble = ensemble_predictor(ctx, test)
    if ensemble is not None:
        key = "latency:teacher_ensemble"
        if not progress.done(key):
            ctx.log("compress: timing the teacher ensemble")
            sizes = sum(folder_size(ctx.layout.teacher(t.name)) for t in config.teachers)
            # a reference to compare with, never deployed: a smaller sample, timed once (it was a third of compress)
            reference = timing.model_copy(update={"texts": min(timing.texts, ENSEMBLE_TIMED_TEXTS), "repeats": 1})
            latency = measure_latency(ensemble, len(test.texts), reference)
            progress.record(key, {"latency": latency, "size_bytes": sizes})
    for name, role, _ in plan:
        key = f"measure:{name}"
        probs_path = ctx.layout.variant_probs(name)
        if not progress.done(key):
            ctx.log(f"compress: evaluating and timing {name}")
            classifier = load_variant(folder / name, labels, max_length, threads)
            probs = {
                split: softmax(classifier.quality_logits(splits[split].texts, splits[split].rows))
                for split in ("validation", "test")
            }
            probs_path.parent.mkdir(exist_ok=True)
            with atomic_path(probs_path) as temporary:
                np.savez_compressed(temporary, **probs)
            latency = measure_latency(
                lambda idx, c=classifier: c.logits([test.texts[i] for i in idx], _rows(test, idx)),
                len(test.texts),
                timing,
            )
            progress.record(key, {"latency": latency, "size_bytes": folder_size(folder / name)})
        with np.load(probs_path) as stored:
            entry = evaluate_model(y_val, stored["validation"], y_test, stored["test"], config, hook, seed=ctx.seed)
        models[name] = {"role": role, **progress.info(key), **entry, "built": progress.info(f"build:{name}")}
    cascades: dict[str, dict] = {}
    if config.deferral.enabled:
        scope = load_scope(ctx)
        inputs = deferral_inputs(ctx, scope)
        for name in models:
            with np.load(ctx.layout.variant_probs(name)) as stored:
                probs = {split: stored[split] for split in ("validation", "test")}
            cascade, report = evaluate_cascade(inputs, probs)
            cascades[name] = cascade.to_dict()
            models[name]["deferral"] = {
                "validation_coverage": report["validation"]["coverage"],
                "answers_any": report["targets_met_on_validation"],
                "test": {key: report["test"][key] for key in ("coverage", "answered", "figures", "intervals")},
                "targets": report["targets"],
            }
        atomic_write_text(ctx.layout.export_scope, json.dumps(scope.to_dict()))
    chosen, reason = choose_variant(models, config)
    if config.deferral.enabled:
        key = f"latency:cascade:{chosen}"
        if not progress.done(key):
            ctx.log(f"compress: timing the cascade with {chosen}")
            classifier = load_variant(folder / chosen, labels, max_length, threads)
            served = Cascade.from_dict(cascades[chosen])
            student = lambda texts, fields=None: softmax(classifier.logits(texts, fields))  # noqa: E731
            progress.record(key, cascade_latency(ctx, served, scope, student))
        models[chosen]["deferral"]["latency"] = progress.info(key)
    environment = {
        "cpu": cpu_name(),
        "threads": threads,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokens": token_lengths(tokenizer, test.texts[: timing.texts], max_length),
        "measured_at": now(),
    }
    reference = progress.info("latency:teacher_ensemble") if ensemble is not None else None
    payload = {
        "schema_version": METRICS_SCHEMA_VERSION,
        "domain": ctx.pack.name,
        "labels": labels,
        "critical_label": config.critical_label,
        "environment": environment,
        "teacher_ensemble": reference,
        "models": models,
        "chosen": chosen,
        "reason": reason,
        "failed": failed,
    }
    atomic_write_text(ctx.layout.export_metrics, json.dumps(payload, indent=2, default=float))
    write_compression_report(folder, payload, config)
    deploy = {
        "variant": chosen,
        "policies": {name: entry["policy"]["weights"] for name, entry in models.items()},
        "cascades": cascades,  # per variant; empty when deferral is off
        "ensemble_served": config.deferral.enabled and ensemble_servable(config),
        "config": config.model_dump(mode="json"),
        "run": str(ctx.run_dir),
        "created_at": now(),
    }
    atomic_write_text(ctx.layout.deploy, json.dumps(deploy, indent=2))
    deployed = models[chosen]
    ctx.log(
        f"compress: chose {chosen} ({deployed['size_bytes'] / 1e6:.1f} MB, p50 {deployed['latency']['p50_ms']:.1f} ms, "
        f"test macro F1 {deployed['test']['macro_f1']:.3f}); export/compression.md"
    )
    return {
        "chosen": chosen,
        "size_mb": round(deployed["size_bytes"] / 1e6, 2),
        "p50_ms": deployed["latency"]["p50_ms"],
        "test_macro_f1": deployed["test"]["macro_f1"],
        "steps": progress.seconds,
    }


STAGE = Stage("compress", fingerprint, run, enabled=lambda config: config.compress.enabled, main_process_only=True)
