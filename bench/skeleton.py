"""Walking-skeleton benchmark: both packs end to end, wall time and test figures of every model, in one run.

    .venv/bin/python bench/skeleton.py [--full] [--write]

`--full` adds the default (non-fast) recipe; `--write` replaces the skeleton section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from toolkit.pipeline import RunRequest, run

ROOT = Path(__file__).resolve().parents[1]
PACKS = ("finance_risk", "medical_triage")
START, END = "<!-- skeleton:start -->", "<!-- skeleton:end -->"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def measure(fast: bool, workdir: Path) -> list[dict]:
    rows = []
    for pack in PACKS:
        started = time.perf_counter()
        result = run(
            RunRequest(domain=pack, out=workdir / f"{pack}-{'fast' if fast else 'full'}", fast=fast), log=lambda _: None
        )
        rows.append({"pack": pack, "fast": fast, "seconds": time.perf_counter() - started, "metrics": result.metrics})
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| pack | settings | wall time | model | test macro F1 | test accuracy | recall of critical class |",
        "|---|---|---|---|---|---|---|",
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
            lines.append(
                "| "
                + " | ".join(
                    lead
                    + [
                        name,
                        f"{test['macro_f1']:.3f}",
                        f"{test['accuracy']:.3f}",
                        f"{test['per_class'][critical]['recall']:.3f} ({critical})",
                    ]
                )
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also run the default (non-fast) recipe")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(True, Path(tmp))
        if args.full:
            rows += measure(False, Path(tmp))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    section = "\n".join(
        [
            START,
            f"Machine: {cpu_name()}, {os.cpu_count()} cores, no GPU · date {date.today()} · commit {commit.strip()} · "
            f"command: `.venv/bin/python bench/skeleton.py{' --full' if args.full else ''} --write`",
            "",
            table(rows),
            END,
        ]
    )
    print(section)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        if START in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text += "\n## Walking skeleton: both packs end to end\n\n" + section + "\n"
        path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
