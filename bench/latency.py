"""Compression and CPU latency of both packs' students: every variant next to the teacher ensemble, one run.

    .venv/bin/python bench/latency.py [--runs runs/a runs/b] [--write]

Without `--runs` it trains both packs with `--fast` into runs/bench-<pack> (reused when unchanged); then it times
and evaluates every variant again on this machine (`domain-distill compress --run R --remeasure`), one pack after
the other so that nothing else competes for the cores. `--write` replaces the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import ROOT, code_version, machine_line, write_section

from toolkit.compress.report import compression_table
from toolkit.config import validate_pack_config
from toolkit.pipeline import RunRequest, compress_run, run

PACKS = ("finance_risk", "medical_triage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", type=Path, help="finished runs to measure (default: train both packs)")
    parser.add_argument("--write", action="store_true", help="replace the section of BENCHMARKS.md")
    args = parser.parse_args()
    runs = args.runs or []
    if not runs:
        for pack in PACKS:
            out = ROOT / "runs" / f"bench-{pack}"
            run(RunRequest(domain=pack, out=out, fast=True, overrides={"compress.enabled": False}), log=_log)
            runs.append(out)
    results = {}
    for run_dir in runs:
        export = compress_run(run_dir, log=_log, remeasure=True)
        results[str(run_dir)] = json.loads((export / "metrics.json").read_text())
    path = ROOT / "bench" / "results" / "latency.json"
    path.write_text(json.dumps(results, indent=2))
    command = "python bench/latency.py" + (" --runs " + " ".join(map(str, args.runs)) if args.runs else "")
    body = render(results, command)
    print(body)
    if args.write:
        write_section("latency", "Compression and CPU latency", body)


def render(results: dict, command: str) -> str:
    lines = [machine_line(command, code_version()), ""]
    for run_dir, payload in results.items():
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
        config = validate_pack_config(manifest["config"])
        ensemble = payload.get("teacher_ensemble")
        chosen = payload["models"][payload["chosen"]]
        lines += [
            f"### {payload['domain']} ({'--fast ' if manifest['fast'] else ''}student, `{run_dir}`)",
            "",
            *compression_table(payload, config),
            "",
            f"Deployed: `{payload['chosen']}`, {payload['reason']}."
            + (
                f" It answers one text in {chosen['latency']['p50_ms']:.1f} ms (p50) against "
                f"{ensemble['latency']['p50_ms']:.1f} ms for the teacher ensemble: "
                f"{ensemble['latency']['p50_ms'] / chosen['latency']['p50_ms']:.1f}× faster, "
                f"{ensemble['size_bytes'] / chosen['size_bytes']:.1f}× smaller."
                if ensemble
                else ""
            ),
            "",
        ]
    return "\n".join(lines)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
