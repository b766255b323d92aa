"""The choice of the deployed variant, and `export/compression.md` / `compression.png`: size, quality and CPU
latency of every variant next to the teacher ensemble and the uncompressed student."""

from __future__ import annotations

from pathlib import Path

from toolkit.config import PackConfig
from toolkit.metrics.plots import subplots
from toolkit.metrics.report import bound_text, interval_text
from toolkit.safe_io import atomic_write_text

REFERENCE = "student_fp32"  # the uncompressed student every variant is compared with


def reference_name(models: dict[str, dict]) -> str:
    """The uncompressed student, or the one variant when a scikit-learn baseline is shipped instead."""
    return REFERENCE if REFERENCE in models else next(iter(models))


def primary_value(entry: dict, split: str, config: PackConfig) -> float:
    """The pack's primary metric (distill.primary_metric) of a model entry at the plain argmax."""
    figures, metric = entry[split], config.distill.primary_metric
    if metric == "critical_recall" and config.critical_label:
        return figures["per_class"][config.critical_label]["recall"]
    return figures["accuracy" if metric == "accuracy" else "macro_f1"]


def choose_variant(models: dict[str, dict], config: PackConfig) -> tuple[str, str]:
    """The smallest variant that, on validation, meets every target the uncompressed student meets there (each with
    its own decision policy) and keeps the primary metric within the pruning tolerance. The test split only
    reports; it never chooses."""
    reference = models[reference_name(models)]
    tolerance = config.compress.prune.tolerance
    floor = primary_value(reference, "validation", config) - tolerance
    met = {t["target"] for t in reference["policy"]["targets"] if _met(t, t["validation"])}
    for name in sorted(models, key=lambda n: models[n]["size_bytes"]):
        entry = models[name]
        misses = [
            t["target"] for t in entry["policy"]["targets"] if t["target"] in met and not _met(t, t["validation"])
        ]
        if (
            not misses
            and primary_value(entry, "validation", config) >= floor
            and _keeps_coverage(entry, reference, config)
        ):
            kept = ", ".join(sorted(met)) or "no target (the uncompressed student meets none)"
            coverage = (
                f" and validation coverage at the deferral targets within {config.deferral.coverage_tolerance} of it"
                if "deferral" in reference
                else ""
            )
            return name, (
                f"the smallest variant that meets on validation what the uncompressed student meets there ({kept}) "
                f"with validation {config.distill.primary_metric} within {tolerance} of it{coverage}"
            )
    return reference_name(models), "no smaller variant kept the uncompressed student's validation figures"


def _keeps_coverage(entry: dict, reference: dict, config: PackConfig) -> bool:
    """A variant that must refer many more cases to meet the deferral targets is not of the same quality."""
    if "deferral" not in reference:
        return True
    ours, theirs = entry["deferral"], reference["deferral"]
    if theirs["answers_any"] and not ours["answers_any"]:
        return False
    return ours["validation_coverage"] >= theirs["validation_coverage"] - config.deferral.coverage_tolerance


def _met(target: dict, value: float) -> bool:
    return value >= target["limit"] if target["bound"] == "at_least" else value <= target["limit"]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def render_compression(payload: dict, config: PackConfig) -> str:
    """Markdown: the side-by-side table, the choice and its targets, and how each variant was checked."""
    models = payload["models"]
    lines = [f"# {payload['domain']} — compression and CPU deployment", "", *compression_table(payload, config)]
    if not payload.get("teacher_ensemble"):
        lines += ["", "The teacher ensemble was not timed: one of its teachers is a paid API."]
    chosen = models[payload["chosen"]]
    lines += [
        "",
        f"**Deployed: `{payload['chosen']}`** ({_mb(chosen['size_bytes'])} MB), {payload['reason']}. "
        "`deploy.json` names it; `domain-distill predict --model <this folder>` uses it.",
        "",
        "Its targets on test, with its own decision policy tuned on validation (weights "
        + ", ".join(f"{k} {v:.3g}" for k, v in chosen["policy"]["weights"].items())
        + "):",
        "",
        "| target | bound | validation | test | 95% interval | status |",
        "|---|---|---|---|---|---|",
    ]
    for t in chosen["policy"]["targets"]:
        lines.append(
            f"| {t['target']} | {bound_text(t)} | {t['validation']:.3f} | {t['value']:.3f} "
            f"| {interval_text(t['interval'])} | **{t['status']}** |"
        )
    lines += ["", "## How each variant was made and checked", ""]
    for name, entry in models.items():
        lines.append(f"- `{name}`: {entry['role']}. {_built_note(entry['built'])}")
    for name, why in payload.get("failed", {}).items():
        lines.append(f"- `{name}`: **failed**, so it is not compared or deployed ({why}). The next run tries again.")
    pruning = models.get("pruned_fp32", {}).get("built")
    if pruning:
        tries = ", ".join(
            f"{h['removed']} heads → {h['value']:.3f}{'' if h['kept'] else ' (over tolerance)'}"
            for h in pruning["history"]
        )
        lines += ["", f"Pruning tries (validation {pruning['metric']}): {tries}."]
    lines += ["", "![size, latency and quality](compression.png)", ""]
    return "\n".join(lines)


def compression_table(payload: dict, config: PackConfig) -> list[str]:
    """How the numbers were taken, then one row per model: size, test quality with Δ, latency, speed-up."""
    models, env, critical = payload["models"], payload["environment"], payload["critical_label"]
    reference = models[reference_name(models)]
    ensemble = payload.get("teacher_ensemble")
    base_p50 = ensemble["latency"]["p50_ms"] if ensemble else None
    timing = next(iter(models.values()))["latency"]
    lines = [
        f"Machine: {env['cpu']}, {env['threads']} threads; PyTorch {env['torch']}, ONNX Runtime "
        f"{env['onnxruntime']}; measured {env['measured_at']}.",
        f"Latency: {timing['texts']} test texts (tokens per text: mean {env['tokens']['mean']}, p95 "
        f"{env['tokens']['p95']}, max {env['tokens']['max']}), tokenization included; p50 / p95 of one text at a "
        f"time, throughput in batches of {timing['batch_size']}; each the median of {timing['repeats']} repeats "
        "after a warm-up. Quality on the test split at the plain argmax; Δ against the uncompressed student.",
        "",
        "| model | what | size MB | smaller | macro F1 | Δ | "
        + (f"recall {critical} | Δ | " if critical else "")
        + "accuracy | p50 ms | p95 ms | texts/s | faster than ensemble (p50) |",
        "|---|---|---|---|---|---|" + ("---|---|" if critical else "") + "---|---|---|---|---|",
    ]
    if ensemble:
        lat = ensemble["latency"]
        lines.append(
            f"| teacher ensemble | {len(config.teachers)} teachers, {config.ensemble.method} | "
            f"{_mb(ensemble['size_bytes'])} | | | | "
            + ("| | " if critical else "")
            + f"| {lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | {lat['throughput_per_s']:.0f} | 1.0× |"
        )
    for name, entry in models.items():
        test, lat = entry["test"], entry["latency"]
        row = [
            f"**{name}**" if name == payload["chosen"] else name,
            entry["role"],
            _mb(entry["size_bytes"]),
            f"{reference['size_bytes'] / entry['size_bytes']:.1f}×",
            f"{test['macro_f1']:.3f}",
            f"{test['macro_f1'] - reference['test']['macro_f1']:+.3f}",
        ]
        if critical:
            recall = test["per_class"][critical]["recall"]
            row += [f"{recall:.3f}", f"{recall - reference['test']['per_class'][critical]['recall']:+.3f}"]
        row += [
            f"{test['accuracy']:.3f}",
            f"{lat['p50_ms']:.2f}",
            f"{lat['p95_ms']:.2f}",
            f"{lat['throughput_per_s']:.0f}",
            f"{base_p50 / lat['p50_ms']:.1f}×" if base_p50 else "—",
        ]
        lines.append("| " + " | ".join(row) + " |")
    if "deferral" in reference:
        lines += ["", *deferral_lines(payload)]
    return lines


def deferral_lines(payload: dict) -> list[str]:
    """Each variant's cascade (its own thresholds, tuned on validation): coverage at the deferral targets."""
    lines = [
        "Defer when unsure, each variant with its own cascade tuned on validation: the share of cases answered "
        "while the deferral targets hold among them.",
        "",
        "| model | coverage, validation | coverage, test | 95% interval | deferral targets on test |",
        "|---|---|---|---|---|",
    ]
    for name, entry in payload["models"].items():
        d = entry["deferral"]
        interval = d["test"]["intervals"].get("coverage")
        statuses = ", ".join(f"{t['target']} {t['status']}" for t in d["targets"]) or "—"
        lines.append(
            f"| {name} | {d['validation_coverage']:.1%} | {d['test']['coverage']:.1%} | "
            + (f"{interval['low']:.1%} – {interval['high']:.1%}" if interval else "—")
            + f" | {statuses} |"
        )
    latency = payload["models"][payload["chosen"]]["deferral"].get("latency")
    if latency:
        parts = ", ".join(
            f"{k} {latency[k]['mean_ms']:.1f} ms" for k in ("cascade", "student", "ensemble") if k in latency
        )
        lines += ["", f"Mean latency per case of the deployed cascade, one at a time: {parts}."]
    return lines


def _built_note(built: dict) -> str:
    if "removed" in built:
        layers = "; ".join(f"layer {k}: {len(v)}" for k, v in built["heads"].items()) or "none"
        return (
            f"{built['removed']} of {built['total']} attention heads removed by gradient importance ({layers}); "
            f"validation {built['metric']} {built['baseline']:.3f} → {built['value']:.3f}"
            + (
                f", {built['recovered']:.3f} after a recovery distillation"
                + ("." if built["recovery_kept"] else " (lower, so the weights from before it are used).")
                if built.get("recovered") is not None
                else "."
            )
        )
    if "max_abs_logit_difference" in built:
        return f"Logits before and after merging differ by at most {built['max_abs_logit_difference']:.2e}."
    if "max_abs_logit_difference_vs_pytorch" in built:
        return f"ONNX logits differ from PyTorch's by at most {built['max_abs_logit_difference_vs_pytorch']:.2e}."
    if built.get("merged") is False:
        return "Trained without LoRA: nothing to merge."
    return ""


def plot_compression(payload: dict, path: Path) -> None:
    """Median latency (log scale) against test macro F1; marker area follows the size on disk."""
    figure, axis = subplots(figsize=(7, 4.5))
    points = [(n, e["latency"]["p50_ms"], e["test"]["macro_f1"], e["size_bytes"]) for n, e in payload["models"].items()]
    for name, latency, f1, size in points:
        axis.scatter(
            latency,
            f1,
            s=max(size / 1e6, 5) * 3,
            alpha=0.6,
            color="#d62728" if name == payload["chosen"] else "#1f77b4",
        )
        axis.annotate(
            f"{name} ({size / 1e6:.0f} MB)", (latency, f1), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    ensemble = payload.get("teacher_ensemble")
    if ensemble:
        axis.axvline(ensemble["latency"]["p50_ms"], color="grey", linestyle="--", linewidth=1)
        axis.annotate(
            "teacher ensemble p50",
            (ensemble["latency"]["p50_ms"], axis.get_ylim()[0]),
            fontsize=8,
            rotation=90,
            va="bottom",
            ha="right",
            color="grey",
        )
    axis.set_xscale("log")
    axis.set_xlabel("p50 latency, one text (ms, log scale)")
    axis.set_ylabel("test macro F1")
    axis.set_title(f"{payload['domain']}: compressed variants (marker area ∝ size)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def write_compression_report(folder: Path, payload: dict, config: PackConfig) -> None:
    atomic_write_text(folder / "compression.md", render_compression(payload, config))
    plot_compression(payload, folder / "compression.png")
