"""`report/MODEL_CARD.md`: what the student is for, what it learned from, how well it does (with intervals), and
where it must not be trusted."""

from __future__ import annotations

from pathlib import Path

from toolkit.config import PackConfig
from toolkit.decision.report import markdown, targets_table
from toolkit.safe_io import atomic_write_text


def _ci(entry: dict, key: str, short: bool = False) -> str:
    i = entry.get("intervals", {}).get(key)
    return f" ({'' if short else '95% interval '}{i['low']:.3f}–{i['high']:.3f})" if i else ""


def _chosen(selection: dict | None) -> dict | None:
    return next(c for c in selection["candidates"] if c["name"] == selection["chosen"]) if selection else None


def _lora(payload: dict, config: PackConfig) -> bool:
    chosen = _chosen(payload.get("selection"))
    return chosen["details"].get("lora", False) if chosen else config.student.lora is not None


def _deployed_lines(selection: dict | None) -> list[str]:
    """Which candidate recipe is deployed, and that validation chose it (student/selection.json)."""
    chosen = _chosen(selection)
    if chosen is None:
        return []
    trained = sum(c["value"] is not None for c in selection["candidates"])
    line = (
        f"- Deployed: `{chosen['name']}` ({chosen['description']}), the best validation {selection['metric']} "
        f"({chosen['value']:.3f}) of {trained} candidates trained on the same rows; the test split did not choose."
    )
    if selection.get("deployed_teacher"):
        line += " It is a scikit-learn baseline, shipped as it is: no transformer beat it on validation."
    elif selection["baseline_chosen"]:
        line += " It is the plain fine-tune: no distilled recipe beat it on validation."
    return [line]


def render_model_card(payload: dict, config: PackConfig, manifest: dict) -> str:
    card, student = config.model_card, payload["models"]["student"]
    test = student["test"]
    sizes = payload["split_sizes"]
    distill = manifest.get("stages", {}).get("distill", {})
    lines = [f"# Model card: {payload['domain']} student", ""]
    if card.warning:
        lines += [f"**{card.warning.strip()}**", ""]
    selection = payload.get("selection") or {}
    lines += ["## Model", "", *_deployed_lines(payload.get("selection"))]
    if not selection.get("deployed_teacher"):  # a shipped scikit-learn baseline has no transformer or teachers
        lines += [
            f"- Base: `{config.student.model}`"
            + (f", layers {config.student.keep_layers}" if config.student.keep_layers else "")
            + (", LoRA merged into the weights" if _lora(payload, config) else ", fully fine-tuned")
            + f"; inputs up to {config.student.max_length} tokens.",
            f"- Trainable parameters during distillation: {distill.get('trainable_parameters', 'n/a'):,} of "
            f"{distill.get('total_parameters', 'n/a'):,}."
            if distill.get("total_parameters")
            else "- Parameters: n/a.",
            f"- Learned from: gold labels and the soft labels of the `{config.ensemble.method}` ensemble of "
            + ", ".join(f"`{t.name}` ({t.kind})" for t in config.teachers)
            + (
                f", plus {payload['filter']['candidates']['kept']} samples kept by the filter stage"
                if payload.get("filter")
                else ""
            )
            + ".",
        ]
    lines += [
        f"- Labels: {', '.join(payload['labels'])}"
        + (f"; critical class `{payload['critical_label']}`." if payload.get("critical_label") else "."),
        "",
        "## Intended use",
        "",
        card.intended_use.strip() or config.description.strip(),
        "",
    ]
    if card.out_of_scope:
        lines += ["Out of scope: " + card.out_of_scope.strip(), ""]
    lines += [
        "## Data",
        "",
        f"- Source: `{payload['data']}`; train / validation / test rows {sizes['train']} / {sizes['validation']} / "
        f"{sizes['test']} (seed {payload['seed']}{', fast settings' if payload['fast'] else ''}).",
        "- The decision policy was tuned on validation only; the test split was used for nothing but these figures.",
        "",
        "## Performance on the test split",
        "",
        f"- Macro F1 {test['macro_f1']:.3f}{_ci(test, 'macro_f1')}; "
        f"accuracy {test['accuracy']:.3f}{_ci(test, 'accuracy')}.",
        f"- Calibration: ECE {test['calibration']['ece']:.3f} (after temperature scaling "
        f"{test['calibration_scaled']['ece']:.3f}), Brier {test['calibration']['brier']:.3f}.",
        "",
        "| class | precision | recall (95% interval) | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, c in test["per_class"].items():
        lines.append(
            f"| {label} | {c['precision']:.3f} | {c['recall']:.3f}{_ci(test, f'recall[{label}]', short=True)} "
            f"| {c['f1']:.3f} | {c['support']} |"
        )
    if payload.get("targets"):
        lines += [
            "",
            "Targets with the decision policy (weights "
            + ", ".join(f"{k} {v:.3g}" for k, v in student["policy"]["weights"].items())
            + "):",
            "",
        ]
        for t in payload["targets"]:
            bound = ("≥" if t["bound"] == "at_least" else "≤") + f" {t['limit']:.2f}"
            lines.append(
                f"- {t['target']} {bound}: {t['value']:.3f} (interval {t['interval']['low']:.3f}–"
                f"{t['interval']['high']:.3f}) **{t['status']}**{'' if t['robust'] else ', not robust'}"
            )
    deferral = payload.get("deferral")
    if deferral:
        lines += [
            "",
            "## When the model answers, and when it refers",
            "",
            deferral["sentence"][0].upper() + deferral["sentence"][1:] + " (test split; tuned on validation).",
            "",
            *markdown(targets_table(deferral)),
        ]
    failed = [t["target"] for t in payload.get("targets", []) if t["status"] == "FAIL"]
    lines += [
        "",
        "## Limits",
        "",
        f"- {sizes['test']} test rows: the intervals above are wide where a class is small; they cover sampling of "
        "this test set, not a change in the population, the case mix or the recording practice.",
    ]
    if failed:
        lines.append(f"- Targets not met on test: {', '.join(failed)}. Do not deploy against them without review.")
    if deferral:
        missed = [t["target"] for t in deferral["targets"] if t["status"] == "FAIL"]
        if missed:
            lines.append(f"- Deferral targets not met among answered cases on test: {', '.join(missed)}.")
        if deferral["label_sets_too_few"]:
            needs = ", ".join(f"{k} needs {v}" for k, v in deferral["label_sets_too_few"].items())
            lines.append(f"- Too few validation rows for the label sets' α ({needs}): such a class is in every set.")
    if payload["fast"]:
        lines.append(
            "- Trained with `--fast` settings (fewer rows and epochs): a demonstration, not a production model."
        )
    if config.example_data and str(payload["data"]).endswith(Path(config.example_data).name):
        lines.append("- Trained on the pack's generated example data, not on real cases.")
    lines.append("- Re-evaluate on recent labeled data (`domain-distill evaluate`) before and during use.")
    lines.append("")
    return "\n".join(lines)


def write_model_card(path: Path, payload: dict, config: PackConfig, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_model_card(payload, config, manifest))
