"""Stage 5 of a run: every model measured the same way on the same splits, and the report.

report/metrics.json      every model's figures (schema: toolkit/metrics/report.py), the choice, the baselines
report/report.md         the same, to read; report.html with the figures; MODEL_CARD.md for the deployed one
report/scope.json        the in-scope model the cascade defers out-of-scope inputs with (when deferral is on)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.data.splits import SPLITS
from toolkit.decision.evaluation import add_selective_entries
from toolkit.decision.from_run import cascade_report, deferral_inputs, fit_scope
from toolkit.decision.words import deferral_sentence
from toolkit.distill.selection import FINETUNE, best_distilled
from toolkit.distill.stage import filter_feeds_distill
from toolkit.manifest import fingerprint as hash_parts
from toolkit.metrics.baselines import FINETUNE_BASELINE, baseline_names, versus_baselines
from toolkit.metrics.classification import check_targets, majority_probabilities
from toolkit.metrics.evaluation import evaluate_model
from toolkit.metrics.html_report import write_html_report
from toolkit.metrics.model_card import write_model_card
from toolkit.metrics.report import METRICS_SCHEMA_VERSION, write_metrics, write_report
from toolkit.run_context import RunContext, Stage, hook_digest, load_probs, load_split
from toolkit.teachers.ensemble import ensemble_roles


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The student (through distill's key) and everything the report measures it against or writes about it."""
    c = ctx.config
    return hash_parts(
        "evaluate",
        upstream["distill"],
        [t.model_dump(mode="json") for t in c.targets],
        c.ordinal,
        c.critical_label,
        c.cost_matrix,
        c.deferral.model_dump(mode="json"),
        c.model_card.model_dump(mode="json"),
        c.description,
        hook_digest(ctx, "metrics"),
        METRICS_SCHEMA_VERSION,
    )


def run(ctx: RunContext) -> dict:
    """Metrics for the majority baseline, every teacher, the ensemble and the student; report files."""
    layout = ctx.layout
    splits = {name: load_split(ctx, name) for name in SPLITS}
    n_classes = len(ctx.labels)
    sources: dict[str, tuple[str, dict[str, np.ndarray]]] = {
        "majority_baseline": (
            "baseline",
            {n: majority_probabilities(splits["train"].labels, len(splits[n].labels), n_classes) for n in SPLITS},
        ),
    }
    for spec in ctx.config.teachers:
        sources[spec.name] = (f"teacher ({spec.kind})", load_probs(layout.teacher_probs(spec.name)))
    for method, role in ensemble_roles().items():
        used = " — the student's soft targets" if method == ctx.config.ensemble.method else ""
        sources[f"ensemble_{method}"] = (f"ensemble ({role}){used}", load_probs(layout.ensemble_method_probs(method)))
    selection = _read_json(layout.selection)
    finetune = layout.candidate_probs(FINETUNE)
    if finetune.is_file():
        sources[FINETUNE_BASELINE] = (
            f"baseline: plain fine-tune of {ctx.config.student.model} on gold labels",
            load_probs(finetune),
        )
    chosen = next((c for c in selection["candidates"] if c["name"] == selection["chosen"]), None) if selection else None
    sources["student"] = (
        f"student, deployed: {chosen['name']} ({chosen['description']})" if chosen else "student",
        load_probs(layout.student_probs),
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
    distilled_probs = layout.candidate_probs(distilled) if selection else layout.student_probs
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
        summary = json.loads(layout.filter_summary.read_text(encoding="utf-8"))
        payload["filter"] = {key: summary[key] for key in ("reward_model", "ppo", "candidates", "label_issues")}
    write_metrics(layout.metrics, payload)
    write_report(layout.report_markdown, payload)
    write_html_report(layout.report_html, payload, y_test, sources["student"][1]["test"])
    write_model_card(layout.model_card, payload, ctx.config, ctx.manifest.data)
    for name, entry in models.items():
        ctx.log(f"  {name:<22} test macro F1 {entry['test']['macro_f1']:.3f}  accuracy {entry['test']['accuracy']:.3f}")
    if "deferral" in payload:
        ctx.log(f"  cascade: {payload['deferral']['sentence']}")
    return {"student_test_macro_f1": models["student"]["test"]["macro_f1"]}


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


STAGE = Stage("evaluate", fingerprint, run, main_process_only=True)
