"""End-to-end benchmark: both packs, wall time and test figures of every model, in one run.

    .venv/bin/python bench/skeleton.py [--full] [--real] [--write]

`--full` adds the default (non-fast) recipe; `--real` adds the real data sets of ../shared/datasets, each
through a pack with only a column / label map; `--write` replaces the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import GERMAN_CREDIT_MAP, MIMIC_MAP, ROOT, SHARED, SMS_MAP, code_version, machine_line, write_section

from toolkit.pipeline import RunRequest, run

PACKS = ("finance_risk", "medical_triage")
# Real data sets through the packs: (name, pack, file, config overrides)
REAL_JOBS = [
    (
        "MIMIC-IV-ED demo (ESI 4 merged into urgent: 2 stays)",
        "medical_triage",
        "triage_mimic_iv_ed_demo/triage.csv",
        MIMIC_MAP,
    ),
    (
        "SMS smishing (ham=low, spam=medium, smishing=high)",
        "finance_risk",
        "sms_phishing_mendeley/Dataset_5971.csv",
        SMS_MAP,
    ),
    (
        "German credit (rows rendered to text; good=low, bad=high)",
        "finance_risk",
        "statlog_german_credit/german_credit.csv",
        GERMAN_CREDIT_MAP,
    ),
]


def measure(fast: bool, workdir: Path) -> list[dict]:
    rows = []
    for pack in PACKS:
        started = time.perf_counter()
        result = run(
            RunRequest(domain=pack, out=workdir / f"{pack}-{'fast' if fast else 'full'}", fast=fast), log=lambda _: None
        )
        rows.append(
            {
                "pack": pack,
                "fast": fast,
                "seconds": time.perf_counter() - started,
                "metrics": result.metrics,
                "teachers": teacher_summary(result.run_dir),
            }
        )
    return rows


def teacher_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "teachers" / "summary.json").read_text())


def measure_real(workdir: Path) -> list[dict]:
    rows = []
    # rules written for the synthetic typologies say little about other data; the ensemble keeps them anyway
    for name, pack, relative, overrides in REAL_JOBS:
        started = time.perf_counter()
        result = run(
            RunRequest(
                domain=pack,
                data=SHARED / relative,
                out=workdir / relative.split("/")[0],
                fast=True,
                overrides=overrides,
            ),
            log=lambda _: None,
        )
        rows.append(
            {
                "pack": f"{name} → {pack}",
                "fast": True,
                "seconds": time.perf_counter() - started,
                "metrics": result.metrics,
                "teachers": teacher_summary(result.run_dir),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| data → pack | settings | wall time | model | test macro F1 | test accuracy | recall of critical class "
        "| labeling texts/s (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        metrics = row["metrics"]
        critical = metrics["critical_label"]
        for i, (name, entry) in enumerate(metrics["models"].items()):
            test = entry["test"]
            lead = (
                [row["pack"], "--fast" if row["fast"] else "default", f"{row['seconds']:.0f} s"]
                if i == 0
                else ["", "", ""]
            )
            labeling = row["teachers"].get(name, {}).get("labeling", {})
            speed = f"{labeling['texts_per_second']:,.0f}" if labeling.get("computed") else ""
            cells = [
                name,
                f"{test['macro_f1']:.3f}",
                f"{test['accuracy']:.3f}",
                f"{test['per_class'][critical]['recall']:.3f} ({critical})",
                speed,
            ]
            lines.append("| " + " | ".join(lead + cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also run the default (non-fast) recipe")
    parser.add_argument("--real", action="store_true", help="also run the real data sets of ../shared/datasets")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    version = code_version()  # the code measured is the code at the start of the run
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(True, Path(tmp))
        if args.full:
            rows += measure(False, Path(tmp))
        if args.real:
            rows += measure_real(Path(tmp))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "skeleton.json").write_text(json.dumps(rows, indent=1, default=str))
    command = (
        f".venv/bin/python bench/skeleton.py{' --full' if args.full else ''}{' --real' if args.real else ''} --write"
    )
    body = machine_line(command, version) + "\n\n" + table(rows)
    print(body)
    if args.write:
        write_section("skeleton", "Walking skeleton: both packs end to end", body)


if __name__ == "__main__":
    sys.exit(main())
