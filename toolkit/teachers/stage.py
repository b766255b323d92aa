"""Stage 2 of a run: every teacher fitted (or restored), every split labeled through the cache, and the teachers
combined every ensemble way.

    teachers/<name>/                 the fitted teacher, probs.npz (per split), fitted.json (its fit key)
    teachers/ensemble_<method>/      probs.npz of each ensemble method
    teachers/ensemble/               probs.npz of the method the student learns from (`ensemble.method`)
    teachers/summary.json            validation macro F1 and labeling figures of each
    teachers/cache.sqlite            every teacher's probabilities by text (reused across runs and stages)
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from transformers import set_seed

from toolkit.config import TeacherSpec
from toolkit.data.splits import SPLITS, Split
from toolkit.distributed import barrier, is_main_process
from toolkit.manifest import fingerprint as hash_parts
from toolkit.metrics.classification import classification_metrics
from toolkit.run_context import RunContext, Stage, fit_rules, hook_digest, load_split
from toolkit.safe_io import atomic_path, atomic_write_text
from toolkit.teachers.base import Teacher, build_teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.labeling import label_texts


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The data, the teachers and how they are combined, and what teachers read besides the text."""
    c = ctx.config
    return hash_parts(
        "teachers",
        upstream["data"],
        [t.model_dump(mode="json") for t in c.teachers],
        c.ensemble.model_dump(mode="json"),
        c.student.max_length,
        [label.model_dump(mode="json") for label in c.labels],  # LLM teachers and filter pairs read descriptions
        hook_digest(ctx, "rules"),
    )


def _fit_teacher(ctx: RunContext, spec: TeacherSpec, splits: dict[str, Split], fit_key: str) -> Teacher:
    """Build a teacher and fit it, or restore it when this run already fitted it with the same inputs."""
    folder = ctx.layout.teacher(spec.name)
    marker = ctx.layout.teacher_fitted(spec.name)
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


def run(ctx: RunContext) -> dict:
    """Fit each teacher, label every split through the cache, then combine them every ensemble way."""
    layout = ctx.layout
    splits = {name: load_split(ctx, name) for name in SPLITS}
    all_texts = [t for name in SPLITS for t in splits[name].texts]
    all_rows = pd.concat([splits[name].rows for name in SPLITS], ignore_index=True)
    bounds = np.cumsum([0] + [len(splits[name].texts) for name in SPLITS])
    cache = TeacherCache(layout.teacher_cache)
    summary: dict[str, dict] = {}
    per_teacher: list[dict[str, np.ndarray]] = []
    y_val = splits["validation"].labels
    for spec in ctx.config.teachers:
        fit_key = hash_parts(ctx.fingerprints["teachers"], spec.model_dump(mode="json"))
        teacher = _fit_teacher(ctx, spec, splits, fit_key)
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
            with atomic_path(layout.teacher_probs(spec.name)) as temporary:
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
        stored = [(layout.ensemble_method_probs(m), probs) for m, (probs, _) in ensembles.items()]
        for path, probs in [*stored, (layout.ensemble_probs, ensembles[chosen][0])]:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as temporary:
                np.savez_compressed(temporary, **probs)
        atomic_write_text(layout.teacher_summary, json.dumps(summary, indent=2))
    return {"teachers": summary}


def combine_teachers(ctx: RunContext, per_teacher: list[dict[str, np.ndarray]], y_val: np.ndarray) -> dict:
    """Every ensemble method's probabilities per split, with what was fitted on validation."""
    names = [spec.name for spec in ctx.config.teachers]
    on = {name: [p[name] for p in per_teacher] for name in SPLITS}
    rules = fit_rules(ctx, on["validation"], y_val)
    return {
        method: ({n: rule.combine(on[n]) for n in SPLITS}, rule.details(names, on)) for method, rule in rules.items()
    }


STAGE = Stage("teachers", fingerprint, run)
