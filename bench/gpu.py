"""GPU performance of distillation: throughput and MFU of our trainer against a plain HF Trainer fine-tune, and
teacher-labeling throughput with and without length bucketing, for MiniLM-L6 and a BERT-base-sized model.

    python3 bench/gpu.py [--texts 20480] [--batch-size 64] [--out FILE]
    accelerate launch --multi_gpu --num_processes 2 bench/gpu.py --training-only      # the same on 2 GPUs (DDP)
    python bench/gpu.py --table-from bench/results/gpu-*.json --write

Every row trains one epoch over the same texts (real SMS messages, cycled), bf16, dynamic padding, full fine-tune,
AdamW at lr 5e-5. Distillation reads cached teacher probabilities (one teacher-labeling pass, timed below), so no
teacher forward runs in the loop. Throughput is timed between the end of step 10 and the end of the last step, with
the GPU synchronised at both ends, after two untimed warm-up epochs per model (random and bucketed order); tokens
are real (unpadded) tokens.

MFU = model FLOPs per token x tokens/s / peak. FLOPs per token: training 6·N + 12·L·d·S, inference 2·N + 4·L·d·S
(N: parameters outside the embeddings, L layers, d width, S the mean real sequence length). The peak is measured in
the same run: a bf16 8192² matmul. `--write` renders BENCHMARKS.md's section.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import ROOT, SHARED, code_version, read_saved, save_results, write_section
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from toolkit.data.splits import Split
from toolkit.distill.batches import EncodedExamples, PaddingCollator
from toolkit.distill.fit import FitSettings, fit_classifier
from toolkit.distributed import is_main_process, process_share
from toolkit.transformer_models import load_tokenizer, predict_logits, resolve_model

LABELS = {"ham": 0, "spam": 1, "smishing": 2}
MAX_LENGTH = 128
WARMUP_STEPS = 10


def sms_texts(n: int) -> tuple[list[str], list[int]]:
    """`n` real SMS texts and labels (the file cycled), the variety of lengths a user's data has."""
    frame = pd.read_csv(SHARED / "sms_phishing_mendeley" / "Dataset_5971.csv")
    frame = frame[frame["LABEL"].str.lower().isin(LABELS)].drop_duplicates("TEXT")
    texts, labels = frame["TEXT"].astype(str).tolist(), frame["LABEL"].str.lower().map(LABELS).tolist()
    return [texts[i % len(texts)] for i in range(n)], [labels[i % len(labels)] for i in range(n)]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_bf16_tflops(iterations: int = 50) -> float:
    """The GPU's achievable bf16 matmul rate, measured now (the denominator of MFU). Without a GPU (`--smoke`):
    a small fp32 matmul on the CPU, so the script's code paths can be checked anywhere."""
    on_gpu = torch.cuda.is_available()
    size, dtype, device = (8192, torch.bfloat16, "cuda") if on_gpu else (512, torch.float32, "cpu")
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(5):
        a @ b
    sync()
    started = time.perf_counter()
    for _ in range(iterations):
        a @ b
    sync()
    return 2 * size**3 * iterations / (time.perf_counter() - started) / 1e12


def models(tokenizer) -> dict:
    """name -> a function building a fresh 3-class model: MiniLM-L6 from its weights, BERT-base from a config."""
    minilm = resolve_model("minilm")

    def bert_base():
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            num_labels=3,
        )
        return AutoModelForSequenceClassification.from_config(config)

    return {
        "MiniLM-L6 (weights)": lambda: AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=3),
        "BERT-base size (from config)": bert_base,
    }


def shape(model: torch.nn.Module) -> dict:
    config = model.config
    embeddings = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    total = sum(p.numel() for p in model.parameters())
    return {
        "parameters": total,
        "non_embedding": total - embeddings,
        "layers": config.num_hidden_layers,
        "width": config.hidden_size,
    }


def flops_per_token(s: dict, sequence: float, training: bool) -> float:
    attention = s["layers"] * s["width"] * sequence
    return 6 * s["non_embedding"] + 12 * attention if training else 2 * s["non_embedding"] + 4 * attention


class StepTimer(TrainerCallback):
    """Wall time from the end of step `WARMUP_STEPS` to the end of the last step, GPU synchronised."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == WARMUP_STEPS:
            sync()
            self.start = time.perf_counter()
        elif state.global_step > WARMUP_STEPS and state.global_step == state.max_steps:
            sync()
            self.end = time.perf_counter()
            self.steps = state.global_step - WARMUP_STEPS


def plain_finetune(
    model, tokenizer, texts, labels, batch_size: int, bucketing: bool, work: Path, our_batches: bool = False
) -> StepTimer:
    """What a practitioner writes without us: AutoModel + Trainer + DataCollatorWithPadding, gold labels.
    `our_batches`: our dataset and collator instead (a diagnostic: is a difference the trainer or the batches?)."""
    if our_batches:
        data, collator = EncodedExamples(tokenizer, texts, labels, MAX_LENGTH), PaddingCollator(tokenizer)
    else:
        encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)
        data = [
            {"input_ids": i, "attention_mask": m, "labels": y}
            for i, m, y in zip(encoded["input_ids"], encoded["attention_mask"], labels, strict=True)
        ]
        collator = DataCollatorWithPadding(tokenizer)
    timer = StepTimer()
    args = TrainingArguments(
        output_dir=str(work),
        num_train_epochs=1,
        per_device_train_batch_size=batch_size,
        learning_rate=5e-5,
        bf16=torch.cuda.is_available(),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        logging_steps=50,
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if bucketing else "random",
        seed=13,
    )
    Trainer(model=model, args=args, train_dataset=data, data_collator=collator, callbacks=[timer]).train()
    return timer


def distill(model, tokenizer, texts, labels, teacher_probs, batch_size: int, bucketing: bool, work: Path) -> StepTimer:
    """Our trainer (toolkit.distill.fit): gold labels + cached teacher probabilities, T 2, α 0.5."""
    timer = StepTimer()
    settings = FitSettings(
        epochs=1,
        learning_rate=5e-5,
        batch_size=batch_size,
        max_length=MAX_LENGTH,
        seed=13,
        temperature=2.0,
        alpha=0.5,
        length_bucketing=bucketing,
    )
    validation = Split(texts[:512], labels[:512], teacher_probs[:512])
    fit_classifier(model, tokenizer, Split(texts, labels, teacher_probs), validation, settings, work, callbacks=[timer])
    return timer


def labeling(
    model, tokenizer, texts, real_tokens: int, s: dict, peak: float, batch_size: int
) -> tuple[list, np.ndarray]:
    """Teacher labeling (inference, bf16) with and without length bucketing; returns rows and the probabilities."""
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    predict_logits(model, tokenizer, texts[:2048], MAX_LENGTH, batch_size)  # warm-up
    rows, logits = [], None
    for bucketing in (True, False):
        sync()
        started = time.perf_counter()
        logits = predict_logits(model, tokenizer, texts, MAX_LENGTH, batch_size, bucket_by_length=bucketing)
        sync()
        seconds = time.perf_counter() - started
        tokens_per_s = real_tokens / seconds
        rows.append(
            {
                "bucketing": bucketing,
                "batch_size": batch_size,
                "texts_per_s": len(texts) / seconds,
                "tokens_per_s": tokens_per_s,
                "mfu": flops_per_token(s, real_tokens / len(texts), training=False) * tokens_per_s / (peak * 1e12),
            }
        )
    probs = torch.softmax(torch.from_numpy(logits).float(), dim=-1).numpy()
    return rows, probs


def measure(n_texts: int, batch_size: int, training_only: bool, distill_first: bool, our_batches: bool) -> dict:
    _, world = process_share()
    torch.manual_seed(13)
    peak = peak_bf16_tflops()
    tokenizer = load_tokenizer("minilm")
    texts, labels = sms_texts(n_texts)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
    real_tokens, mean_length = sum(lengths), float(np.mean(lengths))
    result = {
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU (smoke run)",
        "processes": world,
        "peak_bf16_tflops": peak,
        "texts": n_texts,
        "mean_tokens": mean_length,
        "batch_size": batch_size,
        "order": "distillation first" if distill_first else "plain fine-tune first",
        "warm_up": "two untimed epochs per model (random, bucketed)",
        "plain_batches": "ours (EncodedExamples + PaddingCollator)" if our_batches else "DataCollatorWithPadding",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in models(tokenizer).items():
            teacher = build()
            s = shape(teacher)
            entry = {"shape": s, "labeling": [], "training": []}
            if training_only:  # every process would label all texts: cached probabilities from a seeded draw instead
                probs = np.random.default_rng(13).dirichlet(np.ones(3), n_texts).astype(np.float32)
            else:
                entry["labeling"], probs = labeling(teacher, tokenizer, texts, real_tokens, s, peak, 256)
            del teacher
            trainers = {"plain": "HF Trainer fine-tune", "distill": "domain-distill distillation"}
            # The first epoch that meets a set of batch shapes runs 2-3x slower whatever the trainer (cold
            # kernel-selection and allocator caches; seen by swapping the run order, 2026-11-23): one untimed epoch
            # in random order and one bucketed, so every timed run starts warm.
            for bucketing in (False, True):
                plain_finetune(
                    build(), tokenizer, texts, labels, batch_size, bucketing, Path(tmp) / f"warm-{bucketing}"
                )
            order = list(trainers)[::-1] if distill_first else list(trainers)
            for index, (kind, bucketing) in enumerate(itertools.product(order, (False, True))):
                torch.manual_seed(13)
                model, work = build(), Path(tmp) / f"{name[:6]}-{index}"
                if kind == "plain":
                    timer = plain_finetune(model, tokenizer, texts, labels, batch_size, bucketing, work, our_batches)
                else:
                    timer = distill(model, tokenizer, texts, labels, probs, batch_size, bucketing, work)
                samples = timer.steps * batch_size * world
                seconds = timer.end - timer.start
                tokens_per_s = samples * mean_length / seconds
                entry["training"].append(
                    {
                        "trainer": trainers[kind],
                        "bucketing": bucketing,
                        "samples_per_s": samples / seconds,
                        "tokens_per_s": tokens_per_s,
                        "timed_steps": timer.steps,
                        "mfu": flops_per_token(s, mean_length, training=True) * tokens_per_s / (peak * 1e12 * world),
                    }
                )
                if is_main_process():
                    print(json.dumps({"model": name, **entry["training"][-1]}), flush=True)
                del model
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            result["models"][name] = entry
    return result


def command_note(result: dict) -> str:
    return f" (`{result['command']}`)" if result.get("command") else ""


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines += [
            f"**{r['gpu']} × {r['processes']}**{command_note(r)} · measured bf16 matmul peak "
            f"{r['peak_bf16_tflops']:.0f} TFLOP/s per GPU · {r['texts']:,} SMS texts (mean {r['mean_tokens']:.1f} "
            f"real tokens) · batch {r['batch_size']} per GPU · order: {r.get('order', 'plain fine-tune first')}"
            f" · plain fine-tune batches: {r.get('plain_batches', 'DataCollatorWithPadding')} · warm-up: "
            f"{r['warm_up']}",
            "",
            "| model | work | length bucketing | samples/s | real tokens/s | MFU | vs plain HF Trainer |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, entry in r["models"].items():
            s = entry["shape"]
            title = f"{name}, {s['parameters'] / 1e6:.0f}M params ({s['non_embedding'] / 1e6:.0f}M outside embeddings)"
            plain = {
                row["bucketing"]: row["samples_per_s"] for row in entry["training"] if row["trainer"].startswith("HF")
            }
            for row in entry["training"]:
                ratio = row["samples_per_s"] / plain[row["bucketing"]]
                lines.append(
                    f"| {title} | {row['trainer']} | {'on' if row['bucketing'] else 'off'} | "
                    f"{row['samples_per_s']:,.0f} | {row['tokens_per_s']:,.0f} | {row['mfu']:.1%} | {ratio:.2f}× |"
                )
                title = ""
            for row in entry["labeling"]:
                bucketing = "on" if row["bucketing"] else "off"
                lines.append(
                    f"| | teacher labeling (inference, batch {row['batch_size']}) | {bucketing} | "
                    f"{row['texts_per_s']:,.0f} | {row['tokens_per_s']:,.0f} | {row['mfu']:.1%} | |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20480, help="a multiple of batch x GPUs")
    parser.add_argument("--batch-size", type=int, default=64, help="per GPU")
    parser.add_argument("--training-only", action="store_true", help="skip teacher labeling (multi-GPU runs)")
    parser.add_argument("--distill-first", action="store_true", help="time distillation before the plain runs")
    parser.add_argument(
        "--plain-our-batches", action="store_true", help="the plain fine-tune reads our dataset and collator"
    )
    parser.add_argument("--smoke", action="store_true", help="allow a run without a GPU (a code check, no figures)")
    parser.add_argument("--out", type=Path, help="raw results (default bench/results/gpu-<N>gpu.json)")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved raw results instead of running")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    if args.table_from:
        saved = read_saved(args.table_from)
    else:
        if not torch.cuda.is_available() and not args.smoke:
            sys.exit("bench/gpu.py measures a GPU and none is visible here; `--smoke` checks its code on the CPU")
        version = code_version()
        result = measure(args.texts, args.batch_size, args.training_only, args.distill_first, args.plain_our_batches)
        if not is_main_process():
            return
        flags = {"--training-only": args.training_only, "--distill-first": args.distill_first}
        flags["--plain-our-batches"] = args.plain_our_batches
        command = "python3 bench/gpu.py" + "".join(f" {flag}" for flag, on in flags.items() if on)
        command += f" --texts {args.texts} --batch-size {args.batch_size}"
        machine = f"{result['gpu']} × {result['processes']}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
        out = args.out or ROOT / "bench" / "results" / f"gpu-{result['processes']}gpu.json"
        saved = save_results(out, version, command, machine, result=result)
    results = [{**part["result"], "command": part["command"]} for part in saved.parts]
    body = saved.header() + "\n\n" + table(results)
    print(body)
    if args.write:
        write_section("gpu", "GPU training throughput and MFU", body)


if __name__ == "__main__":
    sys.exit(main())
