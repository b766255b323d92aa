"""The generator's online-RL step side by side: TRL's PPO against TRL's GRPO on the same rows and the same reward.

    .venv/bin/python bench/generator_algorithms.py [--rows 600] [--write]

Per pack, its `synthetic` hook writes `--rows` rows; one `--fast` run trains the data split and the teachers, and
each algorithm then continues from a copy of that folder (same split, same teachers, same SFT recipe and reward
model settings), with the filter's time budget off (`filter.budget_share=0`) so that both make the same number of
episodes. Compress is off: it does not read the generator. `--write` replaces the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import ROOT, code_version, machine_line, machine_name, save_results, write_section

from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, run

PACKS = ["finance_risk", "medical_triage"]
ALGORITHMS = ["ppo", "grpo"]
COMMON = {"filter.budget_share": 0.0, "compress.enabled": False}


def one_run(pack: str, data: Path, out: Path, overrides: dict, until: str | None = None) -> dict:
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{out.name} {time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    result = run(RunRequest(domain=pack, data=data, out=out, fast=True, overrides=overrides), log=log, until=until)
    return {"seconds": round(time.perf_counter() - started, 1), "metrics": result.metrics}


def chosen_validation_f1(run_dir: Path) -> float | None:
    """The deployed student's validation macro F1, as recipe selection recorded it."""
    selection = json.loads((run_dir / "student" / "selection.json").read_text())
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["chosen"])
    return chosen.get("validation", {}).get("macro_f1")


def algorithm_row(pack: str, algorithm: str, run_dir: Path, entry: dict) -> dict:
    summary = json.loads((run_dir / "filter" / "summary.json").read_text())
    kept = pd.read_parquet(run_dir / "filter" / "kept.parquet")
    ppo = summary["ppo"]
    return {
        "pack": pack,
        "algorithm": algorithm,
        "tuning_seconds": summary["seconds"]["ppo"],
        "steps": ppo["steps"],
        "first_quarter_mean": ppo.get("first_quarter_mean"),
        "last_quarter_mean": ppo.get("last_quarter_mean"),
        "candidates": summary["candidates"]["total"],
        "kept": summary["candidates"]["kept"],
        "kept_reward_model_mean": float(kept["reward_model"].mean()) if len(kept) else None,
        "kept_confidence_mean": float(kept["hint_confidence"].mean()) if len(kept) else None,
        "student_validation_macro_f1": chosen_validation_f1(run_dir),
        "student_test_macro_f1": entry["metrics"]["models"]["student"]["test"]["macro_f1"],
        "run_seconds": entry["seconds"],
    }


def measure(rows: int, workdir: Path) -> list[dict]:
    results = []
    for pack in PACKS:
        data = workdir / f"{pack}-{rows}.csv"
        load_pack(pack).hook("synthetic")(n_rows=rows, seed=7).to_csv(data, index=False)
        base = workdir / f"{pack}-teachers"
        one_run(pack, data, base, COMMON, until="teachers")
        for algorithm in ALGORITHMS:
            folder = workdir / f"{pack}-{algorithm}"
            shutil.copytree(base, folder)  # same split, same teachers
            entry = one_run(pack, data, folder, {**COMMON, "filter.generator.algorithm": algorithm}, until="evaluate")
            results.append(algorithm_row(pack, algorithm, folder, entry))
            print(json.dumps(results[-1]), flush=True)
    return results


def _num(value: float | None, digits: int = 3, sign: bool = False) -> str:
    return "—" if value is None else f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| pack | algorithm | tuning time | updates | mean reward, first → last quarter | kept / candidates "
        "| kept: mean RM score | kept: teacher confidence | student validation macro F1 | student test macro F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['algorithm'].upper()} | {r['tuning_seconds']:.0f} s | {r['steps']} "
            f"| {_num(r['first_quarter_mean'], sign=True)} → {_num(r['last_quarter_mean'], sign=True)} "
            f"| {r['kept']} / {r['candidates']} | {_num(r['kept_reward_model_mean'], sign=True)} "
            f"| {_num(r['kept_confidence_mean'])} | {_num(r['student_validation_macro_f1'])} "
            f"| {_num(r['student_test_macro_f1'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=600, help="rows the pack's synthetic hook writes")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument("--note", default="", help="lines under the table (which algorithm is better, and why)")
    parser.add_argument("--table-from", type=Path, help="render saved raw results instead of running")
    args = parser.parse_args()
    command = f"python bench/generator_algorithms.py --rows {args.rows} --write"
    path = args.table_from or ROOT / "bench" / "results" / "generator-algorithms.json"
    if args.table_from:
        saved = json.loads(path.read_text())
    else:
        version = code_version()
        with tempfile.TemporaryDirectory() as tmp:
            rows = measure(args.rows, Path(tmp))
        save_results(path, version, command, machine_name(), rows=rows)
        saved = json.loads(path.read_text())

    header = machine_line(saved["command"], saved["version"], saved["machine"], saved["date"])
    body = header + "\n\n" + table(saved["rows"]) + ("\n\n" + args.note if args.note else "")
    print(body)
    if args.write:
        write_section("generator-algorithms", "Generator tuning: PPO against GRPO (--fast, synthetic rows)", body)


if __name__ == "__main__":
    sys.exit(main())
