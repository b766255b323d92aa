"""INT8 side by side: PyTorch's deprecated eager dynamic INT8 (toolkit/compress/quantize.py) against ONNX
Runtime's dynamic INT8 (the maintained replacement), both against fp32, on one distilled student.

    python bench/int8.py [--pack finance_risk] [--write]

One `--fast` run of the pack's example data with the compress stage on (the teachers limited to the cheap ones and
the filter off: neither changes what is compared here; the transformer student is always deployed, so the variants
exist). The figures are the compress stage's own: size on disk, p50 latency of one text on this CPU and test macro
F1, from `export/metrics.json`. When `torchao` is importable (it is not a dependency: `pip install --target DIR
torchao` and put DIR on PYTHONPATH), its INT8 dynamic-activation / INT8-weight config is measured on the same model
with the same latency routine. `--write` replaces the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import ROOT, code_version, machine_line, machine_name, save_results, write_section

from toolkit.compress.latency import measure_latency, set_threads
from toolkit.compress.runtime import TorchClassifier, softmax
from toolkit.config import CHEAP_TEACHER_KINDS
from toolkit.metrics.classification import classification_metrics
from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, effective_config, run
from toolkit.transformer_models import load_classifier, load_tokenizer

VARIANTS = {  # the compress stage's variants compared here: runtime, and whether its INT8 path is maintained
    "pruned_fp32": ("PyTorch fp32 (heads pruned)", "reference"),
    "torch_int8": ("PyTorch eager dynamic INT8", "deprecated by PyTorch"),
    "onnx_fp32": ("ONNX Runtime fp32", "reference"),
    "onnx_int8": ("ONNX Runtime dynamic INT8", "maintained"),
}


def overrides(pack: str) -> dict:
    cheap = [t.model_dump() for t in load_pack(pack).config.teachers if t.kind in CHEAP_TEACHER_KINDS]
    return {"teachers": cheap, "filter.enabled": False, "recipe_search.teachers": False, "compress.enabled": True}


def torchao_row(run_dir: Path, pack: str) -> dict | None:
    """torchao's INT8 on the pruned fp32 model, scored and timed the way the compress stage does it."""
    try:
        import torchao
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        return None
    config = effective_config(load_pack(pack).config, fast=True)
    labels = json.loads((run_dir / "export" / "metrics.json").read_text())["labels"]
    folder = run_dir / "export" / "pruned_fp32"
    model = load_classifier(str(folder), labels).eval()
    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    classifier = TorchClassifier(model, load_tokenizer(str(folder)), config.student.max_length)
    test = pd.read_parquet(run_dir / "data" / "test.parquet")
    texts, y = test["input"].tolist(), np.array([labels.index(label) for label in test["label"]])
    set_threads(config.compress.latency.threads)
    figures = classification_metrics(y, softmax(classifier.logits(texts)), labels)
    latency = measure_latency(
        lambda idx: classifier.logits([texts[i] for i in idx]), len(texts), config.compress.latency
    )
    saved = run_dir / "torchao_int8.pt"
    torch.save(model.state_dict(), saved)
    return {
        "variant": "torchao_int8",
        "runtime": f"PyTorch, torchao {torchao.__version__} (measured here, not a variant)",
        "status": "maintained",
        "size_mb": saved.stat().st_size / 1e6,
        "p50_ms": latency["p50_ms"],
        "test_macro_f1": figures["macro_f1"],
    }


def measure(pack: str, workdir: Path) -> list[dict]:
    run_dir = workdir / f"{pack}-int8"
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    run(RunRequest(domain=pack, out=run_dir, fast=True, overrides=overrides(pack)), log=log)
    models = json.loads((run_dir / "export" / "metrics.json").read_text())["models"]
    rows = [
        {
            "variant": name,
            "runtime": runtime,
            "status": status,
            "size_mb": models[name]["size_bytes"] / 1e6,
            "p50_ms": models[name]["latency"]["p50_ms"],
            "test_macro_f1": models[name]["test"]["macro_f1"],
        }
        for name, (runtime, status) in VARIANTS.items()
        if name in models
    ]
    extra = torchao_row(run_dir, pack)
    return rows + ([extra] if extra else [])


def table(rows: list[dict]) -> str:
    fp32 = {r["variant"]: r for r in rows}
    lines = [
        "| variant | runtime | INT8 path | size | p50 latency, 1 text | test macro F1 | Δ F1 vs its fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = fp32["onnx_fp32" if r["variant"].startswith("onnx") else "pruned_fp32"]
        delta = "—" if r is base else f"{r['test_macro_f1'] - base['test_macro_f1']:+.3f}"
        lines.append(
            f"| {r['variant']} | {r['runtime']} | {r['status']} | {r['size_mb']:.1f} MB | {r['p50_ms']:.1f} ms "
            f"| {r['test_macro_f1']:.3f} | {delta} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pack", default="finance_risk")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument("--note", default="", help="lines under the table")
    parser.add_argument("--table-from", type=Path, help="render saved raw results instead of running")
    args = parser.parse_args()
    command = f"python bench/int8.py --pack {args.pack} --write"
    path = args.table_from or ROOT / "bench" / "results" / f"int8-{args.pack}.json"
    if not args.table_from:
        version = code_version()
        with tempfile.TemporaryDirectory() as tmp:
            rows = measure(args.pack, Path(tmp))
        save_results(path, version, command, machine_name(), pack=args.pack, rows=rows)
    saved = json.loads(path.read_text())
    header = machine_line(saved["command"], saved["version"], saved["machine"], saved["date"])
    body = header + "\n\n" + table(saved["rows"]) + ("\n\n" + args.note if args.note else "")
    print(body)
    if args.write:
        write_section("int8", "INT8: PyTorch's deprecated eager path against ONNX Runtime", body)


if __name__ == "__main__":
    sys.exit(main())
