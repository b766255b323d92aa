"""The generator's online-RL step side by side: TRL's PPO against TRL's GRPO on the same rows and the same reward.

    python bench/generator_algorithms.py [--rows 600] [--write] [--note TEXT]

Per pack, its `synthetic` hook writes `--rows` rows; one `--fast` run trains the data split and the teachers, and
each algorithm then continues from a copy of that folder (same split, same teachers) through the filter stage, with
the filter's time budget off (`filter.budget_share=0`) so that both make the same number of episodes. The teachers
are the pack's cheap ones (the fine-tuned MiniLM teacher and the student would cost most of an hour on 2 shared
cores, and they are the same for both algorithms): the reward is still reward model + teacher confidence.
The student is not trained; in its place a TF-IDF + logistic regression is fitted on the training split plus the
kept samples (labeled by the ensemble) and scored on validation, next to the same model on the training split alone.
`--write` replaces the section of BENCHMARKS.md.
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline

from toolkit.config import CHEAP_TEACHER_KINDS
from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, run

PACKS = ["finance_risk", "medical_triage"]
ALGORITHMS = ["ppo", "grpo"]


def overrides(pack: str) -> dict:
    cheap = [t.model_dump() for t in load_pack(pack).config.teachers if t.kind in CHEAP_TEACHER_KINDS]
    return {"teachers": cheap, "filter.budget_share": 0.0}


def one_run(pack: str, data: Path, out: Path, extra: dict, until: str) -> float:
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{out.name} {time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    request = RunRequest(domain=pack, data=data, out=out, fast=True, overrides={**overrides(pack), **extra})
    run(request, log=log, until=until)
    return round(time.perf_counter() - started, 1)


def proxy_macro_f1(run_dir: Path, kept: pd.DataFrame | None) -> float:
    """Validation macro F1 of TF-IDF + logistic regression on the training split (+ the kept samples)."""
    train = pd.read_parquet(run_dir / "data" / "train.parquet")
    validation = pd.read_parquet(run_dir / "data" / "validation.parquet")
    texts, labels = train["input"].tolist(), train["label"].tolist()
    if kept is not None:
        texts, labels = texts + kept["input"].tolist(), labels + kept["label"].tolist()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), LogisticRegression(max_iter=2000))
    model.fit(texts, labels)
    return float(f1_score(validation["label"], model.predict(validation["input"]), average="macro"))


def algorithm_row(pack: str, algorithm: str, run_dir: Path, seconds: float) -> dict:
    summary = json.loads((run_dir / "filter" / "summary.json").read_text())
    kept = pd.read_parquet(run_dir / "filter" / "kept.parquet")
    tuned = summary["ppo"]
    return {
        "pack": pack,
        "algorithm": algorithm,
        "tuning_seconds": summary["seconds"]["ppo"],
        "steps": tuned["steps"],
        "first_quarter_mean": tuned.get("first_quarter_mean"),
        "last_quarter_mean": tuned.get("last_quarter_mean"),
        "candidates": summary["candidates"]["total"],
        "kept": summary["candidates"]["kept"],
        "kept_reward_model_mean": float(kept["reward_model"].mean()) if len(kept) else None,
        "kept_confidence_mean": float(kept["hint_confidence"].mean()) if len(kept) else None,
        "proxy_validation_macro_f1": proxy_macro_f1(run_dir, kept),
        "proxy_validation_macro_f1_without": proxy_macro_f1(run_dir, None),
        "filter_seconds": seconds,
    }


def measure(rows: int, workdir: Path, packs: list[str]) -> list[dict]:
    results = []
    for pack in packs:
        data = workdir / f"{pack}-{rows}.csv"
        load_pack(pack).hook("synthetic")(n_rows=rows, seed=7).to_csv(data, index=False)
        base = workdir / f"{pack}-teachers"
        one_run(pack, data, base, {}, until="teachers")
        for algorithm in ALGORITHMS:
            folder = workdir / f"{pack}-{algorithm}"
            shutil.copytree(base, folder)  # same split, same teachers
            seconds = one_run(pack, data, folder, {"filter.generator.algorithm": algorithm}, until="filter")
            results.append(algorithm_row(pack, algorithm, folder, seconds))
            print(json.dumps(results[-1]), flush=True)
    return results


def _num(value: float | None, digits: int = 3, sign: bool = False) -> str:
    return "—" if value is None else f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| pack | algorithm | tuning time | updates | mean reward, first → last quarter | kept / candidates "
        "| kept: mean RM score | kept: teacher confidence | TF-IDF LR validation macro F1, + kept (train only) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['algorithm'].upper()} | {r['tuning_seconds']:.0f} s | {r['steps']} "
            f"| {_num(r['first_quarter_mean'], sign=True)} → {_num(r['last_quarter_mean'], sign=True)} "
            f"| {r['kept']} / {r['candidates']} | {_num(r['kept_reward_model_mean'], sign=True)} "
            f"| {_num(r['kept_confidence_mean'])} | {_num(r['proxy_validation_macro_f1'])} "
            f"({_num(r['proxy_validation_macro_f1_without'])}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=600, help="rows the pack's synthetic hook writes")
    parser.add_argument("--packs", nargs="+", default=PACKS, choices=PACKS, help="packs to measure, in order")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument("--note", default="", help="lines under the table (which algorithm is better, and why)")
    parser.add_argument("--table-from", type=Path, help="render saved raw results instead of running")
    args = parser.parse_args()
    packs = "" if args.packs == PACKS else f" --packs {' '.join(args.packs)}"
    command = f"python bench/generator_algorithms.py --rows {args.rows}{packs} --write"
    path = args.table_from or ROOT / "bench" / "results" / "generator-algorithms.json"
    if args.table_from:
        saved = json.loads(path.read_text())
    else:
        version = code_version()
        with tempfile.TemporaryDirectory() as tmp:
            rows = measure(args.rows, Path(tmp), args.packs)
        save_results(path, version, command, machine_name(), rows=rows)
        saved = json.loads(path.read_text())

    header = machine_line(saved["command"], saved["version"], saved["machine"], saved["date"])
    body = header + "\n\n" + table(saved["rows"]) + ("\n\n" + args.note if args.note else "")
    print(body)
    if args.write:
        write_section("generator-algorithms", "Generator tuning: PPO against GRPO (--fast, synthetic rows)", body)


if __name__ == "__main__":
    sys.exit(main())
