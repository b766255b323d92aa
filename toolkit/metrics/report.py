"""Write `report/metrics.json` and a readable `report/report.md` for a run."""

from __future__ import annotations

import json
from pathlib import Path

METRICS_SCHEMA_VERSION = 1


def write_metrics(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": METRICS_SCHEMA_VERSION, **payload}, indent=2), encoding="utf-8")


def _pct(x: float) -> str:
    return f"{x:.3f}"


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
        + " |",
        "|---|---|---|---|" + "---|" * len(labels) + ("---|" if critical else ""),
    ]
    for name, entry in models.items():
        m = entry["test"]
        row = [name, entry["role"], _pct(m["accuracy"]), _pct(m["macro_f1"])]
        row += [_pct(m["per_class"][label]["f1"]) for label in labels]
        if critical:
            row.append(_pct(m["per_class"][critical]["recall"]))
        lines.append("| " + " | ".join(row) + " |")
    if payload.get("targets"):
        lines += [
            "",
            "## Targets (student, argmax decision; thresholds come with the evaluation stage later)",
            "",
            "| target | bound | value | status |",
            "|---|---|---|---|",
        ]
        for t in payload["targets"]:
            bound = ("≥ " if t["bound"] == "at_least" else "≤ ") + f"{t['limit']:.2f}"
            lines.append(f"| {t['target']} | {bound} | {t['value']:.3f} | **{t['status']}** |")
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
    lines.append("")
    return "\n".join(lines)


def write_report(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(payload), encoding="utf-8")
