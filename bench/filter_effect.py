"""The filter stage's effect on the student: macro F1 without and with the filtered samples, in one run.

    .venv/bin/python bench/filter_effect.py [--full] [--write]

Per data set the run without the filter goes first; each variant then starts from a copy of that run folder, so
the data split and the teachers are the very same and only the filter and the student differ:

    without          filter.enabled=false
    pool only        the filter keeps samples from the unlabeled pool; no generated texts (example data only)
    pool + generated the whole filter: generated candidates and the pool, kept by reward
    generated only   real data sets, which come without a pool

The test split is never used to choose anything. `--write` replaces the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SHARED, SMS_MAP, code_version, machine_line, write_section

from toolkit.pipeline import RunRequest, run

# (name, pack, data file or None for the pack's example data, input-map overrides)
JOBS = [
    ("finance example data", "finance_risk", None, {}),
    ("triage example data", "medical_triage", None, {}),
    (
        "SMS smishing → finance (ham=low, spam=medium, smishing=high)",
        "finance_risk",
        SHARED / "sms_phishing_mendeley" / "Dataset_5971.csv",
        SMS_MAP,
    ),
]


def variants(has_pool: bool) -> list[tuple[str, dict]]:
    if has_pool:
        return [("pool only", {"filter.generator.samples": 0}), ("pool + generated", {})]
    return [("generated only", {})]


def one_run(pack: str, data: Path | None, out: Path, fast: bool, overrides: dict) -> dict:
    started = time.perf_counter()

    def log(line: str) -> None:  # the run's own log, timed, so a slow step shows itself
        print(f"[{out.name} {time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    result = run(RunRequest(domain=pack, data=data, out=out, fast=fast, overrides=overrides), log=log)
    entry = {"seconds": time.perf_counter() - started, "student": result.metrics["models"]["student"]["test"]}
    summary = out / "filter" / "summary.json"
    if overrides.get("filter.enabled", True) and summary.is_file():
        entry["filter"] = json.loads(summary.read_text())
    return entry


def measure(fast: bool, workdir: Path, only: list[int] | None = None) -> list[dict]:
    rows = []
    for number, (name, pack, data, base) in enumerate(JOBS):
        if only is not None and number not in only:
            continue
        if data is not None and not data.is_file():
            print(f"skipped {name}: {data} not found")
            continue
        baseline_dir = workdir / f"{pack}-{number}-without"
        baseline = one_run(pack, data, baseline_dir, fast, {**base, "filter.enabled": False})
        row = {"data": name, "pack": pack, "fast": fast, "without": baseline, "with": {}}
        for label, extra in variants(has_pool=data is None):
            folder = workdir / f"{pack}-{number}-{label.replace(' ', '').replace('+', '-')}"
            shutil.copytree(baseline_dir, folder)  # same split, same teachers
            row["with"][label] = one_run(pack, data, folder, fast, {**base, **extra})
        rows.append(row)
        print(json.dumps(row, default=str)[:400])
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| data → pack | settings | student trained on | test macro F1 | Δ vs without | critical recall "
        "| kept (pool / generated) | RM pairwise acc. (human / agreement / generated) | PPO reward, first → last "
        "| label issues flagged | filter + distill time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        base = row["without"]["student"]
        critical = next(iter(c for c in base["per_class"] if c in ("high", "emergent")), None)
        lines.append(
            f"| {row['data']} → {row['pack']} | {'--fast' if row['fast'] else 'default'} | training split only | "
            f"{base['macro_f1']:.3f} | — | {base['per_class'][critical]['recall']:.3f} | — | — | — | — "
            f"| {row['without']['seconds']:.0f} s (whole run) |"
        )
        for label, entry in row["with"].items():
            test, f = entry["student"], entry.get("filter", {})
            kept = f.get("candidates", {}).get("kept_by_source", {})
            accuracy = f.get("reward_model", {}).get("pairwise_accuracy_by_source", {})
            ppo = f.get("ppo", {})
            curve = (
                f"{ppo['first_quarter_mean']:+.2f} → {ppo['last_quarter_mean']:+.2f}"
                if "first_quarter_mean" in ppo
                else "—"
            )
            lines.append(
                f"| | | + kept samples: {label} | {test['macro_f1']:.3f} "
                f"| {test['macro_f1'] - base['macro_f1']:+.3f} | "
                f"{test['per_class'][critical]['recall']:.3f} | {kept.get('unlabeled pool', 0)} / "
                f"{kept.get('generated', 0)} | "
                + " / ".join(
                    "—" if accuracy.get(s) is None else f"{accuracy[s]:.2f}"
                    for s in ("human", "agreement", "generated")
                )
                + f" | {curve} | {f.get('label_issues', {}).get('flagged', '—')} | {entry['seconds']:.0f} s |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the default recipe instead of --fast")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument("--only", type=int, nargs="+", help="run only these jobs (0 finance, 1 triage, 2 SMS)")
    parser.add_argument("--out", type=Path, help="raw results file (default bench/results/filter-effect[-full].json)")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved raw results instead of running")
    parser.add_argument("--machine", help="with --table-from: the machine the results were measured on")
    parser.add_argument("--commit", help="with --table-from: the commit measured, where the saved one is wrong")
    args = parser.parse_args()
    suffix = "-full" if args.full else ""
    command = f".venv/bin/python bench/filter_effect.py{' --full' if args.full else ''} --write"
    if args.table_from:
        saved = [json.loads(path.read_text()) for path in args.table_from]
        saved = [
            part if isinstance(part, dict) else {"rows": part, "version": "?", "command": command} for part in saved
        ]
        rows = [row for part in saved for row in part["rows"]]
        version, command = args.commit or saved[0]["version"], saved[0]["command"]
    else:
        version = code_version()
        with tempfile.TemporaryDirectory() as tmp:
            rows = measure(not args.full, Path(tmp), args.only)
        out = args.out or ROOT / "bench" / "results" / f"filter-effect{suffix}.json"
        out.parent.mkdir(exist_ok=True, parents=True)
        out.write_text(json.dumps({"version": version, "command": command, "rows": rows}, indent=1, default=str))
    body = machine_line(command, version, args.machine) + "\n\n" + table(rows)
    print(body)
    if args.write:
        title = "Filter stage: the student with and without filtered samples"
        write_section(f"filter-effect{suffix}", title + (" (default recipe)" if args.full else " (--fast)"), body)


if __name__ == "__main__":
    sys.exit(main())
