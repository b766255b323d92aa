"""The same distillation on one GPU and on several (DDP through `accelerate launch`): scaling efficiency and equal
metrics, in one run.

    python3 bench/multi_gpu.py [--data sms] [--processes 2] [--out FILE]
    python bench/multi_gpu.py --smoke --fast --data finance_example     # the code path on 2 CPU processes (gloo)
    python bench/multi_gpu.py --table-from bench/results/multi-gpu-*.json --write

One process runs the stages that run once (data, teachers, filter). Two copies of that run folder then run the
distill and evaluate stages: one with `python -m toolkit.cli run`, the others with `accelerate launch --multi_gpu
--num_processes N -m toolkit.cli run`. The finished stages are skipped in all, so every student learns from the same
split, soft labels and kept samples, for the same epochs (early stopping off). The N-process runs take the pack's
batch per device (weak scaling: N× the samples per step, 1/N of the steps), then the one-process batch split over
the N devices: the same steps and schedule as one process, so the metrics must agree within noise (not bit for bit:
the distributed sampler draws other batches, and each process has its own dropout).

Scaling efficiency = samples/s on N processes ÷ (N × samples/s on one), samples/s from the HF Trainer's own
`train_runtime` (evaluation every epoch and checkpoints included: the distillation as a user runs it). Metrics:
the student's test macro F1 and critical recall with their 95% intervals from each run's report, and how often the
two students give the same test label.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import ROOT, code_version, read_saved, save_results, write_section
from quality import DATASETS, default_request

from toolkit.distributed import launch_command
from toolkit.pipeline import run

# the stages that run once, and what the timed runs change: no early stopping, no compress stage
PREPARED_UNTIL = "filter"
TIMED_OVERRIDES = {"distill.early_stopping_patience": None, "compress.enabled": False}


def cli_run(prefix: list[str], request, overrides: dict, out: Path, fast: bool, log_file: Path) -> float:
    """`domain-distill run` of `request` (+ `overrides`) into `out` through `prefix` (a plain or an
    accelerate-launched python -m); returns the wall seconds. The output goes to `log_file`; a failure names it."""
    settings = {**request.overrides, **overrides}
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    command = [*prefix, "run", "--domain", str(request.domain), "--out", str(out), *sets]
    command += ["--data", str(request.data)] if request.data else []
    command += ["--fast"] if fast else []
    started = time.perf_counter()
    with log_file.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(prefix[:4])} ... failed (exit {done.returncode}); its output: {log_file}")
    return time.perf_counter() - started


def figures(run_dir: Path, seconds: float) -> dict:
    """Throughput from the trainer's history and the student's test figures from the run's report."""
    history = json.loads((run_dir / "student" / "history.json").read_text())
    ends = [entry for entry in history if "train_runtime" in entry]  # one per recipe phase
    runtime = sum(entry["train_runtime"] for entry in ends)
    samples = sum(entry["train_samples_per_second"] * entry["train_runtime"] for entry in ends)
    steps = max(entry.get("step", 0) for entry in history)
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    test = metrics["models"]["student"]["test"]
    critical = metrics.get("critical_label")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {
        "wall_seconds": seconds,
        "distill_stage_seconds": manifest["stages"]["distill"]["seconds"],
        "train_runtime": runtime,
        "samples": samples,
        "samples_per_s": samples / runtime,
        "optimizer_steps": steps,
        "macro_f1": test["macro_f1"],
        "macro_f1_interval": test.get("intervals", {}).get("macro_f1"),
        "critical_label": critical,
        "critical_recall": test["per_class"][critical]["recall"] if critical else None,
        "critical_interval": test.get("intervals", {}).get(f"recall[{critical}]") if critical else None,
    }


def measure(data_name: str, processes: int, fast: bool, workdir: Path) -> dict:
    """Prepare once; then distill + evaluate on one process, on `processes` with the pack's per-device batch (weak
    scaling), and on `processes` with the same global batch as one (the same steps and schedule: the metrics check)."""
    data = next(d for d in DATASETS if d.name == data_name)
    request = default_request(data, workdir, fast, threads=2, extra=TIMED_OVERRIDES)
    print(f"[multi-gpu] preparing {data.name} (data, teachers, filter) in one process", flush=True)
    run(request, log=lambda line: print(f"  {line}", flush=True), until=PREPARED_UNTIL)
    batch = json.loads((request.out / "manifest.json").read_text())["config"]["distill"]["batch_size"]
    single, launched = [sys.executable, "-m", "toolkit.cli"], launch_command(processes, "toolkit.cli")
    plans = [
        ("one process", 1, single, batch),
        (f"{processes} processes, batch {batch} each", processes, launched, batch),
        (f"{processes} processes, same global batch", processes, launched, max(1, batch // processes)),
    ]
    runs = []
    for index, (name, count, prefix, per_device) in enumerate(plans):
        folder = workdir / f"run{index}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(request.out, folder)
        print(f"[multi-gpu] distill + evaluate: {name} ...", flush=True)
        overrides = {"distill.batch_size": per_device}
        seconds = cli_run(prefix, request, overrides, folder, fast, workdir / f"run{index}.log")
        entry = {"name": name, "processes": count, "per_device_batch": per_device, **figures(folder, seconds)}
        entry["test_labels"] = np.load(folder / "student" / "probs.npz")["test"].argmax(axis=1).tolist()
        runs.append(entry)
        print(f"[multi-gpu] {name}: {entry['samples_per_s']:,.1f} samples/s, macro F1 {entry['macro_f1']:.3f}")
    return {
        "data": data.title,
        "devices": torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU processes (gloo)",
        "processes": processes,
        "fast": fast,
        "runs": runs,
    }


def _interval(value: float | None, interval: dict | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} [{interval['low']:.2f}, {interval['high']:.2f}]" if interval else f"{value:.3f}"


def table(results: list[dict]) -> str:
    lines = [
        "| data set | devices | run | global batch | optimizer steps | samples/s | speed-up | scaling efficiency | "
        "student test macro F1 [95% CI] | critical recall [95% CI] | same test label as one process |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        one = r["runs"][0]
        for index, entry in enumerate(r["runs"]):
            speedup = entry["samples_per_s"] / one["samples_per_s"]
            same = np.mean(np.asarray(entry["test_labels"]) == np.asarray(one["test_labels"]))
            title = f"{r['data']}{' (--fast)' if r['fast'] else ''}"
            lines.append(
                f"| {title if index == 0 else ''} | {r['devices'] if index == 0 else ''} | {entry['name']} | "
                f"{entry['per_device_batch'] * entry['processes']} | {entry['optimizer_steps']} | "
                f"{entry['samples_per_s']:,.0f} | {speedup:.2f}× | {speedup / entry['processes']:.0%} | "
                f"{_interval(entry['macro_f1'], entry['macro_f1_interval'])} | "
                f"{_interval(entry['critical_recall'], entry['critical_interval'])} ({entry['critical_label']}) | "
                f"{'' if index == 0 else f'{same:.1%}'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="sms", choices=[d.name for d in DATASETS], help="the data set (default sms)")
    parser.add_argument("--processes", type=int, help="processes of the DDP run (default: the visible GPUs)")
    parser.add_argument("--fast", action="store_true", help="--fast pipeline settings (a smoke run)")
    parser.add_argument("--smoke", action="store_true", help="allow CPU processes (a code check; no GPU figures)")
    parser.add_argument("--workdir", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="raw results (default bench/results/multi-gpu-<N>.json)")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved raw results instead of running")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    if args.table_from:
        saved = read_saved(args.table_from)
    else:
        gpus = torch.cuda.device_count()
        if gpus < 2 and not args.smoke:
            sys.exit(f"bench/multi_gpu.py compares 1 GPU with several and sees {gpus}; `--smoke` runs it on CPUs")
        processes = args.processes or max(gpus, 2)
        version = code_version()
        with tempfile.TemporaryDirectory() as tmp:
            workdir = args.workdir or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            result = measure(args.data, processes, args.fast, workdir)
        command = f"python3 bench/multi_gpu.py --data {args.data} --processes {processes}"
        command += "".join(flag for flag, on in ((" --fast", args.fast), (" --smoke", args.smoke)) if on)
        machine = f"{result['devices']} × {processes}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
        out = args.out or ROOT / "bench" / "results" / f"multi-gpu-{processes}.json"
        saved = save_results(out, version, command, machine, result=result)
    body = saved.header() + "\n\n" + table([part["result"] for part in saved.parts])
    print(body)
    if args.write:
        write_section("multi_gpu", "Distillation on several GPUs", body)


if __name__ == "__main__":
    sys.exit(main())
