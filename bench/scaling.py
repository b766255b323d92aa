"""How each stage's time grows with the data: the default recipe on generated example data at several sizes and on
the real sets' fixed splits, one run each, with the plain fine-tune and TF-IDF + LR timed in the same runs.

    python bench/scaling.py --pack medical_triage --rows 1000 2400 5000 20000      # example data at these sizes
    python bench/scaling.py --real sms mimic_ed                                    # the real sets' fixed splits
    python bench/scaling.py --table-from bench/results/scaling-*.json --write      # tables + plot into BENCHMARKS.md

Per run: each stage's wall time, rows/s, share of the run and peak memory (the report's stage timings), and the plain
fine-tune's and TF-IDF + LR's training time on the same rows. A stage that grows faster than the data shows as
falling rows/s across sizes. A run that fails is recorded with its error and the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SPLITS, code_version, machine_name, read_saved, save_results, write_section  # noqa: E402
from bench.quality import DATASETS, request_for  # noqa: E402
from toolkit.packs import load_pack  # noqa: E402
from toolkit.pipeline import RunRequest, run  # noqa: E402

TARGETS = {  # the targets, at the default recipe: rows -> seconds, per device kind
    "cpu": {2400: 15 * 60},
    "gpu": {2400: 90, 20000: 5 * 60},
}


def example_request(pack: str, rows: int, workdir: Path, overrides: dict) -> RunRequest:
    """The pack's generator at `rows` rows (seeded as the committed example data is), run with the default recipe."""
    frame = load_pack(pack).hook("synthetic")(n_rows=rows, seed=7)
    path = workdir / f"{pack}-{rows}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return RunRequest(domain=pack, data=path, out=workdir / f"run-{pack}-{rows}", overrides=overrides)


def measure(name: str, request: RunRequest, rows: int | None) -> dict:
    """One run's stage timings, and the baselines' training seconds from its recipe selection and teachers."""
    started = time.perf_counter()
    try:
        result = run(request, log=lambda line: print(f"  {line}", flush=True))
    except Exception as error:  # a benchmark row records the failure; the next size still runs
        traceback.print_exc()
        return {"name": name, "rows": rows, "error": f"{type(error).__name__}: {error}"}
    timings = result.metrics["timings"] if result.metrics else json.loads((request.out / "manifest.json").read_text())
    selection = json.loads((request.out / "student" / "selection.json").read_text())
    candidates = {c["name"]: c for c in selection["candidates"]}
    teachers = {
        folder.name: json.loads((folder / "fitted.json").read_text()).get("seconds")
        for folder in (request.out / "teachers").iterdir()
        if (folder / "fitted.json").is_file()
    }
    filter_summary = request.out / "filter" / "summary.json"
    return {
        "name": name,
        "rows": timings["rows"],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "stages": timings["stages"],
        "finetune_seconds": candidates.get("finetune", {}).get("seconds"),
        "tfidf_seconds": teachers.get("tfidf_lr"),
        "chosen": selection["chosen"],
        "samples_per_second": {
            c["name"]: c["details"].get("samples_per_second") for c in selection["candidates"] if c.get("details")
        },
        "filter_budget": json.loads(filter_summary.read_text()).get("budget") if filter_summary.is_file() else None,
    }


def table(rows: list[dict]) -> str:
    stages = ["data", "teachers", "filter", "distill", "evaluate", "compress"]
    head = "| run | device | rows | wall s | " + " | ".join(f"{s} s (rows/s)" for s in stages)
    head += " | filter share | plain fine-tune s | TF-IDF + LR s | peak memory MB |"
    lines = [head, "|" + "---|" * (len(stages) + 8)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['name']} | {_device(row)} | {row.get('rows') or '—'} | failed: {row['error'][:80]} |")
            continue
        by_stage = {s["stage"]: s for s in row["stages"]}
        cells = [
            f"{by_stage[s]['seconds']:,.1f} ({by_stage[s]['rows_per_second']:,.0f})" if s in by_stage else "off"
            for s in stages
        ]
        share = by_stage.get("filter", {}).get("share")
        peak = max((s["peak_memory_mb"] or 0) for s in row["stages"])
        lines.append(
            f"| {row['name']} | {_device(row)} | {row['rows']:,} | {row['wall_seconds']:,.0f} | "
            + " | ".join(cells)
            + f" | {'—' if share is None else f'{share:.0%}'} | {_num(row['finetune_seconds'])} | "
            f"{_num(row['tfidf_seconds'])} | {peak:,.0f} |"
        )
    return "\n".join(lines)


def _device(row: dict) -> str:
    return "GPU" if "GPU" in row.get("machine", "").replace("no GPU", "") else "CPU"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def plot(rows: list[dict], path: Path) -> None:
    """Seconds per stage against rows, log-log, one panel per pack and one line per stage: a line steeper than the
    dotted linear guide grows faster than the data."""
    from toolkit.metrics.plots import subplots

    generated = [r for r in rows if "error" not in r and r["name"].startswith(("risk", "triage"))]
    device = "GPU" if any(_device(r) == "GPU" for r in generated) else "CPU"  # one device's runs, the latest per size
    latest = {(r["name"].split("-")[0], r["rows"]): r for r in generated if _device(r) == device}
    packs = sorted({name for name, _ in latest})
    figure, axes = subplots(1, len(packs), figsize=(6 * len(packs), 4.5), squeeze=False, sharey=True)
    for axis, pack in zip(axes[0], packs, strict=True):
        sized = sorted((r for (name, _), r in latest.items() if name == pack), key=_rows)
        for stage in ["teachers", "filter", "distill", "evaluate", "compress"]:
            points = [(r["rows"], s["seconds"]) for r in sized for s in r["stages"] if s["stage"] == stage]
            if len(points) > 1:
                axis.plot(*zip(*points, strict=True), marker="o", label=stage)
        x0, x1 = sized[0]["rows"], sized[-1]["rows"]
        if x1 > x0:
            axis.plot([x0, x1], [10, 10 * x1 / x0], "k:", label="linear")
        axis.set(xscale="log", yscale="log", xlabel="rows", title=f"{pack}, {device}: stage time")
        axis.legend()
    axes[0][0].set_ylabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _rows(row: dict) -> int:
    return row["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", nargs="+", default=[], choices=["finance_risk", "medical_triage"])
    parser.add_argument("--rows", nargs="+", type=int, default=[1000, 2400, 5000, 20000])
    parser.add_argument("--real", nargs="+", default=[], choices=[d.name for d in DATASETS if d.split_folder])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--workdir", type=Path, help="keep run folders here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="raw results (default bench/results/scaling.json)")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved results instead of running")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    if args.table_from:
        saved = read_saved(args.table_from)
    else:
        import yaml

        extra = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
        flags = (("--pack", args.pack), ("--rows", args.rows if args.pack else []), ("--real", args.real))
        command = (
            "python bench/scaling.py"
            + "".join(f" {flag} {' '.join(map(str, values))}" for flag, values in flags if values)
            + "".join(f" --set {item}" for item in args.set)
        )
        out = args.out or ROOT / "bench" / "results" / "scaling.json"
        version, machine = code_version(), machine_name()
        results: list[dict] = []
        with tempfile.TemporaryDirectory() as tmp:
            base = args.workdir or Path(tmp)
            runs = [
                (
                    f"{pack.split('_')[-1]}-{rows}",
                    lambda p=pack, n=rows, b=base: example_request(p, n, b / f"{p}-{n}", extra),
                    rows,
                )
                for pack in args.pack
                for rows in args.rows
            ]
            runs += [
                (d.name, lambda d=d, b=base: request_for(d, b / d.name, fast=False, threads=2, extra=extra), None)
                for d in DATASETS
                if d.name in args.real and (SPLITS / d.split_folder).is_dir()
            ]
            for name, request, rows in runs:
                print(f"{name}: the default recipe", flush=True)
                results.append(measure(name, request(), rows))
                saved = save_results(out, version, command, machine, rows=results)  # each run kept as it ends
    rows = [{**row, "machine": part["machine"]} for part in saved.parts for row in part["rows"]]
    body = saved.header() + "\n\n" + table(rows)
    print(body)
    if args.write:
        image = ROOT / "bench" / "results" / "scaling.png"
        sizes = {r["rows"] for r in rows if "error" not in r and r["name"].startswith(("risk", "triage"))}
        figure = ""
        if len(sizes) > 1:  # one size draws no line
            plot(rows, image)
            figure = f"\n\n![stage times against rows]({image.relative_to(ROOT)})"
        write_section("scaling", "Scaling: stage times against data size", body + figure)


if __name__ == "__main__":
    main()
