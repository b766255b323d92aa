"""The deferral part of the report, as tables (header, rows) that report.md, report.html and the model card all
render: the cascade on test with intervals, its targets, what is referred, the label sets, its latency, and every
model's risk–coverage summary."""

from __future__ import annotations

Table = tuple[list[str], list[list[str]]]
ANSWERED_FIGURES = {
    "accuracy": "accuracy among answered",
    "macro_f1": "macro F1 among answered",
    "under_triage_rate": "under-triage among answered",
}


def _interval(interval: dict | None, percent: bool = False) -> str:
    if not interval:
        return "—"
    if percent:
        return f"{interval['low']:.1%} – {interval['high']:.1%}"
    return f"{interval['low']:.3f} – {interval['high']:.3f}"


def _value(x: float | None, percent: bool = False) -> str:
    return "—" if x is None else (f"{x:.1%}" if percent else f"{x:.3f}")


def cascade_table(deferral: dict, critical: str | None) -> Table:
    """Coverage and the figures among answered cases, test value with interval, next to validation."""
    test, validation = deferral["test"], deferral["validation"]
    rows = [
        [
            "coverage (answered by student or ensemble)",
            _value(test["coverage"], True),
            _interval(test["intervals"].get("coverage"), True),
            _value(validation["coverage"], True),
        ],
        [
            "reached the teacher ensemble",
            _value(test["ensemble_share"], True),
            _interval(test["intervals"].get("ensemble_share"), True),
            "",
        ],
    ]
    names = dict(ANSWERED_FIGURES)
    if critical:
        names[f"recall[{critical}]"] = f"recall of {critical} among answered"
    for key, title in names.items():
        if key in test["figures"]:
            rows.append(
                [
                    title,
                    _value(test["figures"][key]),
                    _interval(test["intervals"].get(key)),
                    _value(validation["figures"].get(key)),
                ]
            )
    return ["figure", "test", "95% interval", "validation"], rows


def targets_table(deferral: dict) -> Table:
    rows = []
    for t in deferral["targets"]:
        bound = ("≥ " if t["bound"] == "at_least" else "≤ ") + f"{t['limit']:.2f}"
        rows.append(
            [
                t["target"],
                bound,
                _value(t["validation"]),
                _value(t["value"]),
                _interval(t["interval"]),
                t["status"],
                "yes" if t["robust"] else "no",
            ]
        )
    return ["target (among answered)", "bound", "validation", "test", "95% interval", "status", "robust"], rows


def referred_table(deferral: dict) -> Table:
    """Per true class: how many were referred, and why."""
    test = deferral["test"]
    rows = []
    for label, count in test["referred_true_labels"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in test["referred_reasons_by_label"][label].items()) or "—"
        rows.append([label, str(count), reasons])
    return ["true class", "referred", "why"], rows


def label_set_table(deferral: dict) -> Table:
    """Each class's conformal set coverage on test against its 1 − α."""
    test, sets = deferral["test"], deferral["cascade"]["label_sets"]["student"]
    rows = []
    for label, entry in sets.items():
        coverage = test["label_set_coverage"].get(label)
        interval = test["label_set_coverage_intervals"].get(label)
        note = " (too few validation rows: in every set)" if label in deferral["label_sets_too_few"] else ""
        rows.append(
            [
                label,
                f"{1 - entry['alpha']:.2f}",
                _value(coverage),
                _interval(interval),
                f"{entry['calibration_rows']}{note}",
            ]
        )
    return ["class", "1 − α", "test coverage", "95% interval", "calibration rows"], rows


def latency_table(deferral: dict) -> Table:
    latency = deferral.get("latency", {})
    rows = [
        [name, f"{latency[name]['mean_ms']:.1f}", f"{latency[name]['p50_ms']:.1f}"]
        for name in ("cascade", "student", "ensemble")
        if name in latency
    ]
    return ["model (one row at a time)", "mean ms", "p50 ms"], rows


def selective_table(models: dict) -> Table:
    """Every model's confidence score (chosen on validation) and its risk at a few coverages on test."""
    rows = []
    for name, entry in models.items():
        sel = entry.get("selective")
        if not sel:
            continue
        curve = sel["test_curve"]
        at = {c: k for k, c in enumerate(curve["coverage"])}
        risks = [_value(curve["risk"][at[c]]) if c in at else "—" for c in (0.5, 0.8, 1.0)]
        reached = sel.get("coverage_at_reference_accuracy")
        rows.append([name, sel["score"], f"{curve['aurc']:.3f}", *risks, _value(reached, True)])
    columns = ["model", "confidence score", "AURC", "risk at 50%", "risk at 80%", "risk at 100%", "coverage at ref."]
    return columns, rows


def markdown(table: Table) -> list[str]:
    columns, rows = table
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def deferral_markdown(payload: dict, sentence: str) -> list[str]:
    """The report's section: the sentence, the cascade, targets, referred cases, label sets, latency, models."""
    deferral, critical = payload["deferral"], payload.get("critical_label")
    cascade = deferral["cascade"]
    student, ensemble = cascade["student"], cascade["ensemble"]
    thresholds = f"student answers where {student['score']} ≥ {_value(student['threshold'])}"
    if ensemble is not None and ensemble["threshold"] is not None:
        thresholds += f"; else the ensemble where {ensemble['score']} ≥ {_value(ensemble['threshold'])}"
    lines = [
        "## Defer when unsure: student → teacher ensemble → person (tuned on validation, reported on test)",
        "",
        f"**In short:** {sentence}.",
        "",
        f"Thresholds: {thresholds}; otherwise `refer`. Label sets: a served label below `{critical}` whose "
        f"conformal set holds `{critical}` → {cascade['label_sets']['critical_in_set']}. "
        f"Out of scope (referred whatever the confidence): {deferral['out_of_scope']['test']} test rows.",
        "",
    ]
    if not deferral["targets"]:
        lines += [
            "**No deferral targets in the pack (`deferral.targets`): the thresholds answer every case that the label "
            "sets and the scope check allow.**",
            "",
        ]
    if not deferral["targets_met_on_validation"]:
        lines += [
            "**No thresholds met the deferral targets on validation while answering any case: the cascade refers "
            "every case.**",
            "",
        ]
    lines += [*markdown(cascade_table(deferral, critical)), "", *markdown(targets_table(deferral)), ""]
    lines += ["Referred cases by true class:", "", *markdown(referred_table(deferral)), ""]
    lines += ["Conformal label sets (class-conditional, calibrated on validation):", ""]
    lines += [*markdown(label_set_table(deferral)), ""]
    if deferral.get("latency"):
        lines += [f"Latency on this CPU, {deferral['latency']['rows']} test rows:", ""]
        lines += [*markdown(latency_table(deferral)), ""]
    lines += [
        "Risk–coverage of every model (risk = 1 − accuracy among the answered; the most confident answered "
        "first; `coverage at ref.`: the coverage at which it reaches the best full-coverage test accuracy of the "
        "run; plot: risk_coverage.png):",
        "",
        *markdown(selective_table(payload["models"])),
    ]
    return lines
