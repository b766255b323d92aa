"""Defer when unsure, on real data: the coverage at which each pack's deferral targets hold, and the risk–coverage
of the student next to the baselines a user would otherwise build, on the fixed splits in ../shared/splits/.

    python bench/deferral.py [--only NAME ...] [--workdir runs/deferral] [--write]
    python bench/deferral.py --table-from bench/results/deferral-*.json --write

Each data set runs the pack's default recipe up to its evaluation on the split files unchanged (their rows carry a
`split` column: train on train, choose every threshold on validation, report on test); the filter stage is off
(issues 18 and 20 take up its cost) and so is compress (evaluate times the cascade on this CPU). The example-data
rows are the packs' `--fast` demo runs (filter on). TF-IDF + LR and the plain MiniLM-L6 fine-tune are the run's own
teachers `tfidf_lr` and `minilm_finetuned` (gold labels only), so every model sees the same rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    MIMIC_SPLIT_MAP,
    ROOT,
    SMS_SPLIT_MAP,
    SPLIT_COLUMNS,
    code_version,
    machine_name,
    read_saved,
    save_results,
    split_file,
    write_section,
)

from toolkit.decision.confidence import Confidence
from toolkit.decision.labels import severe_argmax
from toolkit.decision.risk_coverage import coverage_at_accuracy
from toolkit.metrics.plots import plot_risk_coverage
from toolkit.pipeline import RunRequest, run

COMPARED = {"student": "student", "tfidf_lr": "TF-IDF + LR", "minilm_finetuned": "MiniLM-L6 fine-tune"}
REAL_DATA_RECIPE = {"filter.enabled": False, "compress.enabled": False}


@dataclass(frozen=True)
class DataSet:
    name: str
    title: str
    pack: str
    split_folder: str | None  # None: the pack's example data, `--fast`, as `make demo` runs it
    overrides: dict = field(default_factory=dict)


DATASETS = [
    DataSet("finance_example", "finance example data (`--fast`, filter on)", "finance_risk", None),
    DataSet("triage_example", "triage example data (`--fast`, filter on)", "medical_triage", None),
    DataSet(
        "mimic_ed",
        "MIMIC-IV-ED demo (ESI 1–2 emergent, 3–4 urgent; split by patient)",
        "medical_triage",
        "triage_mimic_ed_demo",
        MIMIC_SPLIT_MAP,
    ),
    DataSet(
        "sms",
        "SMS smishing (ham=low, spam=medium, smishing=high)",
        "finance_risk",
        "sms_phishing",
        SMS_SPLIT_MAP,
    ),
    DataSet(
        "german_credit",
        "German credit (the peers' rows as text; good=low, bad=high)",
        "finance_risk",
        "german_credit",
        {
            "input_map.columns": SPLIT_COLUMNS,
            "input_map.labels": {"good": "low", "bad": "high"},
        },
    ),
]


def measure(data: DataSet, workdir: Path) -> dict:
    out_dir = workdir / data.name
    if data.split_folder is None:
        request = RunRequest(domain=data.pack, out=out_dir, fast=True, overrides={"compress.enabled": False})
    else:
        overrides = {**data.overrides, **REAL_DATA_RECIPE}
        # the peers' serialised MIMIC `text` is not our input: the complaint is, with the vitals as fields
        drop = ("text",) if data.name == "mimic_ed" else ()
        data_file = split_file(data.split_folder, workdir / f"{data.name}.csv", drop)
        request = RunRequest(domain=data.pack, data=data_file, out=out_dir, overrides=overrides)
    result = run(request, log=lambda line: print(f"[{data.name}] {line}", flush=True), until="evaluate")
    metrics = result.metrics
    models = {name: metrics["models"][name] for name in [*COMPARED, f"ensemble_{ensemble_method(out_dir)}"]}
    return {
        "name": data.name,
        "title": data.title,
        "pack": data.pack,
        "split_sizes": metrics["split_sizes"],
        "deferral": metrics["deferral"],
        "models": {
            name: {
                "test": {k: e["test"][k] for k in ("accuracy", "macro_f1")},
                "selective": e["selective"],
                "role": e["role"],
            }
            for name, e in models.items()
        },
        "coverage_at_best": coverage_at_best(out_dir, metrics),
        "critical_label": metrics["critical_label"],
    }


def ensemble_method(run_dir: Path) -> str:
    return json.loads((run_dir / "manifest.json").read_text())["config"]["ensemble"]["method"]


def coverage_at_best(run_dir: Path, metrics: dict) -> dict:
    """The coverage at which the student, TF-IDF + LR and the plain fine-tune each reach the best full-coverage
    test accuracy among the three (each answering its surest rows first, by its own validation-chosen score)."""
    y = pd.read_parquet(run_dir / "data" / "test.parquet")["label"].map(
        {label: k for k, label in enumerate(metrics["labels"])}
    )
    ordinal = metrics["models"]["student"]["test"].get("under_triage_rate") is not None
    probs = {"student": np.load(run_dir / "student" / "probs.npz")["test"]}
    probs |= {
        name: np.load(run_dir / "teachers" / name / "probs.npz")["test"] for name in ("tfidf_lr", "minilm_finetuned")
    }
    teachers = [
        np.load(p)["test"]
        for p in sorted((run_dir / "teachers").glob("*/probs.npz"))
        if not p.parent.name.startswith("ensemble")
    ]
    best = max(COMPARED, key=lambda n: metrics["models"][n]["test"]["accuracy"])
    accuracy = metrics["models"][best]["test"]["accuracy"]
    out = {"reference": best, "accuracy": accuracy}
    for name, p in probs.items():
        selective = metrics["models"][name]["selective"]
        confidence = Confidence(selective["score"], selective["temperature"])
        scores = confidence(p, teachers if selective["score"] == "teacher_agreement" else None)
        out[name] = coverage_at_accuracy(y.to_numpy(), severe_argmax(p, ordinal), scores, accuracy)
    return out


# --- tables -------------------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _ci(i: dict | None, pct: bool = True) -> str:
    if not i:
        return ""
    return f" [{i['low']:.1%}, {i['high']:.1%}]" if pct else f" [{i['low']:.3f}, {i['high']:.3f}]"


def cascade_rows(rows: list[dict]) -> list[str]:
    lines = [
        "| data set | test rows | coverage at the targets [95% CI] | under-triage among answered "
        "| critical recall among answered | targets on test | referred (true class: n) | to ensemble "
        "| ms / case: cascade · student · ensemble |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d, critical = row["deferral"], row["critical_label"]
        test, figures, intervals = d["test"], d["test"]["figures"], d["test"]["intervals"]
        under = figures.get("under_triage_rate")
        recall = figures.get(f"recall[{critical}]")
        targets = ", ".join(f"{t['target']} {t['status']}" for t in d["targets"])
        referred = ", ".join(f"{k}: {v}" for k, v in test["referred_true_labels"].items())
        lat = d.get("latency", {})
        ms = " · ".join(f"{lat[k]['mean_ms']:.1f}" if k in lat else "—" for k in ("cascade", "student", "ensemble"))
        lines.append(
            f"| {row['title']} | {test['rows']} | {_pct(test['coverage'])}{_ci(intervals.get('coverage'))} "
            f"| {_pct(under)}{_ci(intervals.get('under_triage_rate')) if under is not None else ''} "
            f"| {_pct(recall)}{_ci(intervals.get(f'recall[{critical}]'))} | {targets} | {referred} "
            f"| {_pct(test['ensemble_share'])} | {ms} |"
        )
    return lines


def coverage_rows(rows: list[dict]) -> list[str]:
    lines = [
        "| data set | best full-coverage accuracy | student | TF-IDF + LR | MiniLM-L6 fine-tune "
        "| AURC student · TF-IDF · FT |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        c = row["coverage_at_best"]
        aurc = " · ".join(f"{row['models'][n]['selective']['test_curve']['aurc']:.3f}" for n in COMPARED)
        lines.append(
            f"| {row['title']} | {c['accuracy']:.3f} ({COMPARED[c['reference']]}) | {_pct(c['student'])} "
            f"| {_pct(c['tfidf_lr'])} | {_pct(c['minilm_finetuned'])} | {aurc} |"
        )
    return lines


def plot(rows: list[dict], folder: Path) -> list[Path]:
    paths = []
    for row in rows:
        names = [n for n in row["models"] if n in COMPARED or n.startswith("ensemble_")]
        figure = plot_risk_coverage(row["models"], names, row["critical_label"])
        figure.suptitle(row["title"], fontsize=9)
        figure.tight_layout(rect=(0, 0, 1, 0.95))
        path = folder / f"deferral-{row['name']}.png"
        figure.savefig(path, dpi=90)
        paths.append(path)
    return paths


def render(saved, rows: list[dict]) -> str:
    images = plot(rows, ROOT / "bench" / "results")
    return "\n".join(
        [
            saved.header(),
            "",
            "The cascade (student → teacher ensemble → person) with thresholds tuned on validation for the largest "
            "coverage at which the pack's deferral targets hold among answered cases (triage: under-triage ≤ 2% and "
            "recall[emergent] ≥ 0.98; finance: recall[high] ≥ 0.98 and precision[high] ≥ 0.5), reported on test. "
            "Real sets: the fixed rows of `../shared/splits/`, filter and compress off.",
            "",
            *cascade_rows(rows),
            "",
            "Risk–coverage on test, each model answering its surest rows first (confidence score chosen on "
            "validation): the coverage at which each reaches the best full-coverage accuracy of the three.",
            "",
            *coverage_rows(rows),
            "",
            *(f"![risk–coverage {p.stem}](bench/results/{p.name})" for p in images),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[d.name for d in DATASETS])
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "deferral")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved raw results instead of running")
    parser.add_argument("--machine", help="with --table-from: the machine the results were measured on")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    if args.table_from:
        saved = read_saved(args.table_from)
        rows = [part["row"] for part in saved.parts]
    else:
        command = "python bench/deferral.py " + " ".join(sys.argv[1:])
        rows, paths = [], []
        for data in [d for d in DATASETS if not args.only or d.name in args.only]:
            row = measure(data, args.workdir)
            path = ROOT / "bench" / "results" / f"deferral-{data.name}.json"
            save_results(path, code_version(), command, machine_name(), row=row)
            rows.append(row)
            paths.append(path)
        saved = read_saved(paths)
    text = render(saved, rows)
    print(text)
    if args.write:
        write_section("deferral", "Defer when unsure: coverage at the deferral targets", text)


if __name__ == "__main__":
    main()
