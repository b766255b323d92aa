"""Teacher-labeling throughput: a MiniLM-L6 transformer teacher over the finance pack's rendered example texts,
with and without length bucketing; fp32 on a CPU, bf16 on a GPU.

    .venv/bin/python bench/labeling.py                                   # CPU, the packaged MiniLM weights
    python3 bench/labeling.py --config-dir .gpu_assets/minilm --texts 20000   # GPU machine: same architecture
                                                                          # from its config (random weights;
                                                                          # the same arithmetic)
Prints a markdown table and writes bench/results/labeling-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from toolkit.data.loading import read_table
from toolkit.data.rendering import render_frame
from toolkit.data.validation import validate_frame
from toolkit.packs import load_pack
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_logits

ROOT = Path(__file__).resolve().parents[1]


def finance_texts(n: int) -> list[str]:
    pack = load_pack("finance_risk")
    frame, _, config = validate_frame(read_table(ROOT / pack.config.example_data), pack.config, "example")
    texts = render_frame(frame, config.columns.fields, config.render)
    return [texts[i % len(texts)] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-dir", type=Path, help="build the model from this config + tokenizer folder")
    parser.add_argument("--texts", type=int, default=2400)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.config_dir:
        config = AutoConfig.from_pretrained(args.config_dir, num_labels=3)
        model = AutoModelForSequenceClassification.from_config(config)
        tokenizer = AutoTokenizer.from_pretrained(args.config_dir)
    else:
        model, tokenizer = load_classifier("minilm", ["low", "medium", "high"]), load_tokenizer("minilm")
    model.to(device).eval()
    texts = finance_texts(args.texts)
    tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"])
    predict_logits(model, tokenizer, texts[:256], args.max_length)  # warm-up
    rows = []
    batch_sizes = (64, 256) if device == "cuda" else (64,)
    for batch_size in batch_sizes:
        for bucket in (True, False):
            seconds = []
            for _ in range(args.repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                predict_logits(model, tokenizer, texts, args.max_length, batch_size=batch_size, bucket_by_length=bucket)
                if device == "cuda":
                    torch.cuda.synchronize()
                seconds.append(time.perf_counter() - started)
            best = float(np.median(seconds))
            rows.append(
                {
                    "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
                    "precision": "bf16" if device == "cuda" else "fp32",
                    "batch_size": batch_size,
                    "length_bucketing": bucket,
                    "texts": len(texts),
                    "seconds": round(best, 3),
                    "texts_per_second": round(len(texts) / best, 1),
                    "tokens_per_second": round(tokens / best),
                }
            )
    out = ROOT / "bench" / "results" / f"labeling-{device}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"torch_threads": torch.get_num_threads(), "rows": rows}, indent=1))
    print("| device | precision | batch | length bucketing | texts | texts/s | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['device']} | {r['precision']} | {r['batch_size']} | {'on' if r['length_bucketing'] else 'off'} | "
            f"{r['texts']} | {r['texts_per_second']:,.0f} | {r['tokens_per_second']:,} |"
        )


if __name__ == "__main__":
    main()
