"""Write `report/metrics.json` (its schema: `SCHEMA` below) and a readable `report/report.md` for a run."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.decision.report import deferral_markdown
from toolkit.metrics.baselines import baseline_markdown
from toolkit.safe_io import atomic_write_text
from toolkit.timing import timings_markdown

METRICS_SCHEMA_VERSION = 3


SCHEMA = """metrics.json, schema_version 3 (keys added later never change the meaning of these):
    domain, data, seed, fast, labels, critical_label, split_sizes{train, validation, test}
    models.<name>:                      every model of the run (baseline, teachers, ensembles, student)
        role                            what the model is
        validation, test:               figures at the plain argmax
            n, accuracy, macro_f1, weighted_f1, per_class.<label>{precision, recall, f1, support},
            confusion_matrix (true rows, predicted columns), under_triage_rate / over_triage_rate (ordinal),
            auc{per_class.<label>{pr_auc, roc_auc}, macro_pr_auc, macro_roc_auc} (None where undefined),
            calibration{ece, brier, reliability[{low, high, confidence, accuracy, count}]},
            quadratic_weighted_kappa (ordinal), expected_cost (with a cost matrix), domain{...} (pack hook)
        test.intervals.<figure>{low, high}       bootstrap 95%; figures named like targets: macro_f1, recall[x]
        test.calibration_scaled{temperature, ece, brier, reliability}   temperature fitted on validation
        policy{weights.<label>, validation{targets_met, of}, test{...}, test_intervals, targets[...]}
        selective{score, temperature, aurc_validation.<score>, coverage_at_reference_accuracy,
                  test_curve{coverage[], rows[], risk[], risk_low[], risk_high[], under_triage_rate*[],
                  critical_recall*[], aurc}}   confidence chosen on validation, risk–coverage on test
    targets[{target, bound, limit, validation, value, interval{low, high}, status PASS|FAIL, robust}]:
        the student's, with its decision policy
    targets_at_argmax[{target, bound, limit, value, status}]
    filter{reward_model, ppo, candidates, label_issues}   when the filter stage fed the student
    reference_accuracy{model, accuracy}   the best full-coverage test accuracy, for coverage_at_reference_accuracy
    selection                            student/selection.json: every candidate recipe's validation figures and
                                         seconds, `chosen`, `baseline_chosen` (the plain fine-tune won)
    distilled                            the best distilled candidate on validation (whatever was deployed)
    versus_baselines[{baseline, validation{distilled, baseline}, test{distilled, baseline},
                      test_difference{difference, low, high}, verdict}]   macro F1, distilled − baseline, paired CI
    deferral (schema 3):                 the student -> ensemble -> person cascade (toolkit/decision)
        sentence                         the result in the pack's words
        cascade{student{score, temperature, threshold}, ensemble{...} | None, label_sets{student, ensemble,
                critical, critical_in_set}, ordinal, labels}       thresholds None: that step never answers
        validation{coverage, figures, answers_any, score_areas_validation}
        test{rows, coverage, answered, figures{accuracy, macro_f1, <targets>, under_triage_rate, recall[crit]},
             intervals.<figure|coverage|ensemble_share>{low, high}, answered_by{student, ensemble, person},
             ensemble_share, reasons{confident, low_confidence, label_set, out_of_scope},
             referred_true_labels.<label>, referred_reasons_by_label.<label>{reason: n},
             label_set_coverage{all, <label>, mean_set_size}, label_set_coverage_intervals.<label>{low, high}}
        targets[{target, bound, limit, validation, value, interval, status, robust}]   among answered cases
        targets_met_on_validation, label_sets_too_few.<label>: rows needed, out_of_scope{validation, test}
        latency{rows, cascade{mean_ms, p50_ms}, student{...}, ensemble{...}}
"""


def write_metrics(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"schema_version": METRICS_SCHEMA_VERSION, **payload}, indent=2))


def bound_text(target: dict) -> str:
    """`≥ 0.95` / `≤ 0.05` for a target result entry."""
    return ("≥ " if target["bound"] == "at_least" else "≤ ") + f"{target['limit']:.2f}"


def interval_text(interval: dict) -> str:
    return f"{interval['low']:.3f} – {interval['high']:.3f}"


def _pct(x: float) -> str:
    return f"{x:.3f}"


ORDINAL_AND_COST = {
    "under_triage_rate": "under-triage",
    "over_triage_rate": "over-triage",
    "quadratic_weighted_kappa": "QWK",
    "expected_cost": "expected cost",
}


def domain_figures(test: dict) -> dict[str, float]:
    """One model's domain figures on a split, flat for a table: ordinal error rates, agreement, cost, then the
    pack hook's figures (a hook figure with several numbers shows its `recall`; all of them are in metrics.json)."""
    out = {name: float(test[key]) for key, name in ORDINAL_AND_COST.items() if test.get(key) is not None}
    for key, value in test.get("domain", {}).items():
        value = value.get("recall") if isinstance(value, dict) else value
        if isinstance(value, int | float):
            out[key] = float(value)
    return out


def domain_table(models: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows (model name first) of the domain figures on test, for every model of the run."""
    figures = {name: domain_figures(entry["test"]) for name, entry in models.items()}
    columns = list(dict.fromkeys(key for f in figures.values() for key in f))
    rows = [[name, *(_pct(f[c]) if c in f else "—" for c in columns)] for name, f in figures.items()]
    return columns, rows


def render_report(payload: dict) -> str:
    """Markdown: a side-by-side table of every model, then per-class tables and the student's targets."""
    labels: list[str] = payload["labels"]
    critical = payload.get("critical_label")
    models: dict[str, dict] = payload["models"]
    lines = [
        f"# {payload['domain']} — run report",
        "",
        f"Data: `{payload['data']}` · test rows: {payload['split_sizes']['test']} · "
        f"train / validation / test: {payload['split_sizes']['train']} / {payload['split_sizes']['validation']} / "
        f"{payload['split_sizes']['test']} · seed {payload['seed']}{' · fast settings' if payload['fast'] else ''}",
        "",
        "## Models side by side (test split)",
        "",
        "| model | role | accuracy | macro F1 | "
        + " | ".join(f"F1 {label}" for label in labels)
        + (f" | recall {critical}" if critical else "")
        + " | macro F1 95% interval | ROC-AUC (macro) | ECE |",
        "|---|---|---|---|" + "---|" * len(labels) + ("---|" if critical else "") + "---|---|---|",
    ]
    for name, entry in models.items():
        m = entry["test"]
        row = [name, entry["role"], _pct(m["accuracy"]), _pct(m["macro_f1"])]
        row += [_pct(m["per_class"][label]["f1"]) for label in labels]
        if critical:
            row.append(_pct(m["per_class"][critical]["recall"]))
        interval = m.get("intervals", {}).get("macro_f1")
        auc = m.get("auc", {}).get("macro_roc_auc")
        row += [
            f"{interval['low']:.3f} – {interval['high']:.3f}" if interval else "—",
            "—" if auc is None else _pct(auc),
            _pct(m["calibration"]["ece"]) if "calibration" in m else "—",
        ]
        lines.append("| " + " | ".join(row) + " |")
    columns, rows = domain_table(models)
    if columns:
        lines += [
            "",
            "## Domain figures (test split, plain argmax)",
            "",
            "Under- / over-triage: the share of rows predicted at a less / more severe level than their label.",
            "",
            "| model | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    if payload.get("targets"):
        weights = payload["models"]["student"]["policy"]["weights"]
        lines += [
            "",
            "## Targets (student, decision policy tuned on validation, reported on test)",
            "",
            "Policy: predict the class with the largest probability × weight; weights "
            + ", ".join(f"{label} {w:.3g}" for label, w in weights.items())
            + ". *Robust* means the target holds at the unfavourable end of the 95% bootstrap interval.",
            "",
            "| target | bound | validation | test | 95% interval | status | robust |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in payload["targets"]:
            lines.append(
                f"| {t['target']} | {bound_text(t)} | {t['validation']:.3f} | {t['value']:.3f} "
                f"| {interval_text(t['interval'])} "
                f"| **{t['status']}** | {'yes' if t['robust'] else 'no'} |"
            )
    if payload.get("selection") or payload.get("versus_baselines"):
        versus = payload.get("versus_baselines", [])
        lines += ["", *baseline_markdown(payload.get("selection"), versus, payload.get("distilled", "student"))]
    if payload.get("deferral"):
        lines += ["", *deferral_markdown(payload, payload["deferral"]["sentence"])]
    if payload.get("filter"):
        lines += ["", *_filter_section(payload["filter"]), *filter_effect_lines(payload.get("selection"))]
    for name, entry in models.items():
        m = entry["test"]
        lines += [
            "",
            f"## {name} — per class (test)",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for label in labels:
            c = m["per_class"][label]
            lines.append(
                f"| {label} | {_pct(c['precision'])} | {_pct(c['recall'])} | {_pct(c['f1'])} | {c['support']} |"
            )
    if "timings" in payload:
        lines += ["", *timings_markdown(payload["timings"], steps=payload.get("timings_with_steps", False))]
    lines.append("")
    return "\n".join(lines)


def _filter_section(summary: dict) -> list[str]:
    """What the filter stage added to the student's training data, and how far to trust it."""
    rm, ppo, candidates = summary["reward_model"], summary["ppo"], summary["candidates"]
    by_source = ", ".join(f"{k} {v:.3f}" for k, v in rm["pairwise_accuracy_by_source"].items() if v is not None)
    lines = [
        "## Filter stage (samples added to the student's training data)",
        "",
        f"- Reward model: pairwise accuracy {rm['pairwise_accuracy']:.3f} on {rm['pairs']['held_out']} held-out pairs "
        f"({by_source}); {rm['pairwise_accuracy_before_training']:.3f} before training.",
    ]
    if "first_quarter_mean" in ppo:
        lines.append(
            f"- PPO: {ppo['steps']} updates; mean reward {ppo['first_quarter_mean']:+.3f} over the first quarter, "
            f"{ppo['last_quarter_mean']:+.3f} over the last (filter/ppo_reward.png)."
        )
    kept = ", ".join(f"{k} {v}" for k, v in candidates["kept_by_source"].items()) or "none"
    reasons = "; ".join(f"{k}: {v}" for k, v in candidates["rejected_by_reason"].items()) or "none"
    lines += [
        f"- Candidates: {candidates['total']}; kept {candidates['kept']} ({kept}); rejected {candidates['rejected']} "
        f"({reasons}).",
        f"- Possible label errors for review: {summary['label_issues']['flagged']} (filter/label_issues.csv).",
    ]
    return lines


def filter_effect_lines(selection: dict | None) -> list[str]:
    """The filter samples' effect on validation: the best distilled candidate with and without each kind."""
    if not selection:
        return []
    by_name = {c["name"]: c for c in selection["candidates"]}
    out = []
    for c in selection["candidates"]:
        base, _, source = c["name"].partition("_without_")
        if source and base in by_name and c["value"] is not None and by_name[base]["value"] is not None:
            change = by_name[base]["value"] - c["value"]
            out.append(
                f"- Effect on validation {selection['metric']}: {base} with the {source.replace('_', ' ')} samples "
                f"{by_name[base]['value']:.3f}, without {c['value']:.3f} ({change:+.3f}); "
                + ("they helped." if change > 0 else "they did not help.")
            )
    return out


def write_report(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_report(payload))
