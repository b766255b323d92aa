"""`report/report.html`: one self-contained page (images inlined as PNG data) that a committee can open offline:
the side-by-side table with intervals, the targets, and the plots."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from toolkit.decision import report as decision_report
from toolkit.metrics.plots import report_figures
from toolkit.metrics.report import bound_text, domain_table, interval_text
from toolkit.safe_io import atomic_write_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pass { color: #116611; font-weight: bold; } .fail { color: #aa1111; font-weight: bold; }
figure { display: inline-block; margin: 0.5rem; } figcaption { font-size: 0.8rem; color: #555; }
"""


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(figure: Figure, caption: str) -> str:
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(figure)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _interval(entry: dict, key: str) -> str:
    i = entry.get("intervals", {}).get(key)
    return f" <small>[{i['low']:.3f}, {i['high']:.3f}]</small>" if i else ""


def render_html(payload: dict, y_test: np.ndarray, student_probs: np.ndarray) -> str:
    """The page for a run's `metrics.json` payload; `student_probs` (test split) feed the student's curves."""
    critical, models = payload.get("critical_label"), payload["models"]
    student = models["student"]
    parts = [
        f"<h1>{html.escape(payload['domain'])} — run report</h1>",
        f"<p>Data <code>{html.escape(str(payload['data']))}</code>; train / validation / test "
        f"{payload['split_sizes']['train']} / {payload['split_sizes']['validation']} / {payload['split_sizes']['test']}"
        f"; seed {payload['seed']}{'; fast settings' if payload['fast'] else ''}. Intervals are bootstrap 95%.</p>",
        "<h2>Models side by side (test split)</h2>",
        "<table><tr><th>model</th><th>role</th><th>macro F1</th><th>accuracy</th>"
        + (f"<th>recall {html.escape(critical)}</th>" if critical else "")
        + "<th>ROC-AUC (macro)</th><th>ECE</th><th>Brier</th></tr>",
    ]
    for name, entry in models.items():
        test = entry["test"]
        auc = test["auc"]["macro_roc_auc"]
        cells = [
            html.escape(name),
            html.escape(entry["role"]),
            f"{test['macro_f1']:.3f}{_interval(test, 'macro_f1')}",
            f"{test['accuracy']:.3f}{_interval(test, 'accuracy')}",
        ]
        if critical:
            cells.append(f"{test['per_class'][critical]['recall']:.3f}{_interval(test, f'recall[{critical}]')}")
        cells += [
            "—" if auc is None else f"{auc:.3f}",
            f"{test['calibration']['ece']:.3f}",
            f"{test['calibration']['brier']:.3f}",
        ]
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    columns, rows = domain_table(models)
    if columns:
        parts += [
            "<h2>Domain figures (test split, plain argmax)</h2>",
            "<table><tr><th>model</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>",
            *("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows),
            "</table>",
        ]
    if payload.get("targets"):
        weights = ", ".join(f"{k} {v:.3g}" for k, v in student["policy"]["weights"].items())
        parts += [
            "<h2>Targets (student; decision policy tuned on validation, reported on test)</h2>",
            f"<p>Policy weights: {html.escape(weights)}.</p>",
            "<table><tr><th>target</th><th>bound</th><th>validation</th><th>test</th><th>95% interval</th>"
            "<th>status</th><th>robust</th></tr>",
        ]
        for t in payload["targets"]:
            status = f'<span class="{t["status"].lower()}">{t["status"]}</span>'
            parts.append(
                f"<tr><td>{html.escape(t['target'])}</td><td>{bound_text(t)}</td><td>{t['validation']:.3f}</td>"
                f"<td>{t['value']:.3f}</td><td>{interval_text(t['interval'])}</td>"
                f"<td>{status}</td><td>{'yes' if t['robust'] else 'no'}</td></tr>"
            )
        parts.append("</table>")
    if payload.get("deferral"):
        parts += _deferral_html(payload)
    plots = [_figure(figure, caption) for figure, caption in report_figures(payload, y_test, student_probs)]
    parts += ["<h2>Plots</h2>", *plots]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(payload["domain"])} '
        f"report</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _table(table: tuple[list[str], list[list[str]]]) -> str:
    columns, rows = table
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td><span class="{cell.lower()}">{cell}</span></td>'
            if cell in ("PASS", "FAIL")
            else f"<td>{html.escape(cell)}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _deferral_html(payload: dict) -> list[str]:
    """The cascade: its sentence, its figures and targets on test, who is referred, label sets, latency, models."""
    deferral, critical = payload["deferral"], payload.get("critical_label")
    parts = [
        "<h2>Defer when unsure: student → teacher ensemble → person</h2>",
        f"<p><strong>In short:</strong> {html.escape(deferral['sentence'])}. Thresholds tuned on validation, "
        "figures on test; every figure below is among the answered cases.</p>",
    ]
    if not deferral["targets_met_on_validation"]:
        parts.append(
            '<p class="fail">No thresholds met the deferral targets on validation while answering any '
            "case: the cascade refers every case.</p>"
        )
    parts += [
        _table(decision_report.cascade_table(deferral, critical)),
        _table(decision_report.targets_table(deferral)),
        "<h3>Referred cases by true class</h3>",
        _table(decision_report.referred_table(deferral)),
        "<h3>Conformal label sets (class-conditional)</h3>",
        _table(decision_report.label_set_table(deferral)),
    ]
    if deferral.get("latency"):
        parts += ["<h3>Latency on this CPU</h3>", _table(decision_report.latency_table(deferral))]
    parts += ["<h3>Risk–coverage of every model</h3>", _table(decision_report.selective_table(payload["models"]))]
    return parts


def write_html_report(path: Path, payload: dict, y_test: np.ndarray, student_probs: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_html(payload, y_test, student_probs))
