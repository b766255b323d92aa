"""Quality against the tools users would otherwise pick: every data set, the same split for every method, one run.

    python bench/quality.py [--only NAME ...] [--fast] [--threads 2] [--out FILE] [--write]
    python bench/quality.py --table-from bench/results/quality-*.json --write

Per data set our pipeline runs first (default recipe: teachers, filter, distill, evaluate); its split files are
then what every other method trains, tunes and is tested on:

    majority class          the most frequent training label
    TF-IDF + LR             word 1–2-grams, C chosen on validation from 5 values
    MiniLM-L6 fine-tune     plain `transformers.Trainer` on gold labels, the student's epochs and length, lr 5e-5,
                            best epoch on validation
    SetFit                  the `setfit` library on the same MiniLM-L6 body (contrastive pairs, then a LR head)
    teacher ensemble        the pack's ensemble, as our pipeline fitted it
    student, default        domain-distill's default recipe (LoRA student)
    student, best recipe    the best on validation of the default and two full-fine-tune recipes (test never chooses)
    deployed                the variant the compress stage chose for the best recipe (e.g. ONNX INT8)

CPU latency is timed for every method in this process, on the machine's CPU with `--threads` threads, one text at
a time (tokenization included), with the pack's latency settings. `--write` renders BENCHMARKS.md's section.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import (
    GERMAN_CREDIT_MAP,
    MIMIC_MAP,
    ROOT,
    SHARED,
    SMS_MAP,
    accelerator,
    code_version,
    read_saved,
    save_results,
    write_section,
)

from toolkit.compress.latency import measure_latency, set_threads
from toolkit.config import PackConfig, validate_pack_config
from toolkit.manifest import Manifest, cpu_name
from toolkit.metrics.evaluation import evaluate_model
from toolkit.pipeline import RunRequest, compress_run, run

# Recipes tried for "best": each starts from a copy of the default run (same split, teachers and kept samples).
# The full fine-tune ones use the plain fine-tune baseline's learning rate, so the difference is the distillation.
RECIPES = {
    "default": {},
    "full_ft": {"student.lora": None, "distill.learning_rate": 5e-5},
    "full_ft_soft": {
        "student.lora": None,
        "distill.learning_rate": 5e-5,
        "distill.alpha": 0.2,
        "distill.temperature": 4.0,
    },
}
FINETUNE_LEARNING_RATE = 5e-5
SETFIT_ITERATIONS = 20  # the library's default number of pairs per training text
SETFIT_MAX_STEPS = 1500  # caps the pairs on the larger sets (batch 16: 24,000 pairs)


@dataclass(frozen=True)
class DataSet:
    name: str
    title: str
    pack: str  # a pack name, or "text" for a pack built here from the file's labels
    data: Path | None  # None: the pack's example data
    overrides: dict = field(default_factory=dict)
    critical: str | None = None  # "text" packs: the class whose recall is the critical figure
    columns: tuple[str, str] = ("text", "label")  # "text" packs: the file's text and label columns


DATASETS = [
    DataSet("finance_example", "finance example data", "finance_risk", None),
    DataSet("triage_example", "triage example data", "medical_triage", None),
    DataSet(
        "sms",
        "SMS smishing (ham=low, spam=medium, smishing=high)",
        "finance_risk",
        SHARED / "sms_phishing_mendeley" / "Dataset_5971.csv",
        SMS_MAP,
    ),
    DataSet(
        "german_credit",
        "German credit (rows as text; good=low, bad=high)",
        "finance_risk",
        SHARED / "statlog_german_credit" / "german_credit.csv",
        GERMAN_CREDIT_MAP,
    ),
    DataSet(
        "mimic_ed",
        "MIMIC-IV-ED demo (ESI 1–2 emergent, 3–4 urgent; split by patient)",
        "medical_triage",
        SHARED / "triage_mimic_iv_ed_demo" / "triage.csv",
        MIMIC_MAP,
    ),
    DataSet(
        "symptom2disease",
        "Symptom2Disease (24 diseases; critical: Pneumonia)",
        "text",
        SHARED / "symptom2disease" / "Symptom2Disease.csv",
        critical="Pneumonia",
    ),
    DataSet(
        "speech_intent",
        "Medical speech intent (25 symptoms, one row per distinct phrase; critical: Heart hurts)",
        "text",
        SHARED / "medical_speech_intent" / "unique_phrases.csv",
        {"input_map.drop_conflicting": True},
        critical="Heart hurts",
        columns=("phrase", "prompt"),
    ),
]


def text_pack(folder: Path, data: DataSet) -> Path:
    """A pack for a plain text-classification file, as `domain-distill init` would start one: the file's labels,
    a TF-IDF and a MiniLM teacher, the default student. Returns the pack folder."""
    text_column, label_column = data.columns
    labels = sorted(pd.read_csv(data.data)[label_column].dropna().astype(str).unique())
    config = {
        "name": data.name,
        "description": data.title,
        "labels": [{"name": label} for label in labels],
        "critical_label": data.critical,
        "columns": {"text": "text", "label": "label"},
        "input_map": {"columns": {text_column: "text", label_column: "label"}},
        "render": {"template": "{text}"},
        "targets": [
            {"metric": "recall", "label": data.critical, "at_least": 0.9},
            {"metric": "macro_f1", "at_least": 0.8},
        ],
        "teachers": [
            {"name": "tfidf_lr", "kind": "sklearn"},
            {
                "name": "minilm_finetuned",
                "kind": "hf",
                "options": {"model": "minilm", "epochs": 6, "learning_rate": 1e-4},
            },
        ],
        "student": {"model": "minilm", "lora": {"r": 8, "alpha": 16, "dropout": 0.1}, "max_length": 128},
        "distill": {"temperature": 2.0, "alpha": 0.5, "epochs": 8, "learning_rate": 2e-3, "batch_size": 16},
    }
    target = folder / data.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "pack.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return target


# --- our pipeline -------------------------------------------------------------------------------------------------


def default_request(data: DataSet, workdir: Path, fast: bool, threads: int, extra: dict) -> RunRequest:
    """The default-recipe run; its data stage alone gives the split, so `--part baselines` needs nothing else."""
    pack = str(text_pack(workdir / "packs", data)) if data.pack == "text" else data.pack
    # 100 test texts timed per model (as --fast does): the figures settle well within that
    overrides = {**data.overrides, "compress.latency.threads": threads, "compress.latency.texts": 100, **extra}
    return RunRequest(domain=pack, data=data.data, out=workdir / "default", fast=fast, overrides=overrides)


def run_ours(data: DataSet, workdir: Path, fast: bool, threads: int, extra: dict, log) -> dict:
    """The default recipe up to its evaluation, then the other recipes from copies of it; only the best on
    validation is compressed. Returns every recipe's student entry, the ensemble's, and the deployed variant's."""
    request = default_request(data, workdir, fast, threads, extra)
    pack, base, default_dir = request.domain, request.overrides, request.out
    started = time.perf_counter()
    result = run(request, log=log, until="evaluate")
    manifest = Manifest.open(default_dir).data
    stages = manifest["stages"]
    out = {
        "ensemble_method": manifest["config"]["ensemble"]["method"],
        "pipeline_seconds": time.perf_counter() - started,
        "stage_seconds": {name: entry.get("seconds") for name, entry in stages.items()},
        "metrics": slim(result.metrics),
        "recipes": {"default": student_entry(result.metrics, stages)},
    }
    recipes = list(RECIPES.items())[: 2 if fast else None]
    for name, overrides in recipes[1:]:
        folder = workdir / name
        if not folder.exists():  # an existing copy is a run to resume
            shutil.copytree(default_dir, folder, ignore=shutil.ignore_patterns("export"))
        recipe = run(
            RunRequest(
                domain=pack,
                data=data.data,
                out=folder,
                fast=fast,
                overrides={**base, **overrides, "compress.enabled": False},
            ),
            log=log,
        )
        out["recipes"][name] = student_entry(recipe.metrics, Manifest.open(folder).data["stages"])
    best = max(out["recipes"], key=lambda name: out["recipes"][name]["validation_macro_f1"])
    out["best_recipe"] = best
    started = time.perf_counter()
    export = compress_run(workdir / best, {"compress.enabled": True}, log)
    out["compress_seconds"] = time.perf_counter() - started
    out["export"] = json.loads((export / "metrics.json").read_text())
    for entry in out["export"]["models"].values():
        entry.pop("policy", None)
        entry.pop("validation", None)
        entry["test"] = slim_split(entry["test"])
    return out


def student_entry(metrics: dict, stages: dict) -> dict:
    student = metrics["models"]["student"]
    return {
        "validation_macro_f1": student["validation"]["macro_f1"],
        "test": slim_split(student["test"]),
        "distill_seconds": stages["distill"]["seconds"],
    }


def slim(metrics: dict) -> dict:
    """What the table needs from report/metrics.json (it is large: curves, per-split extras)."""
    keep = ("labels", "critical_label")
    return {
        **{key: metrics.get(key) for key in keep},
        "models": {name: {"test": slim_split(entry["test"])} for name, entry in metrics["models"].items()},
    }


def slim_split(split: dict) -> dict:
    return {key: split[key] for key in ("macro_f1", "accuracy", "per_class", "intervals", "n") if key in split}


# --- the other tools, on the run's split files -------------------------------------------------------------------


@dataclass
class Splits:
    config: PackConfig
    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]


def load_splits(run_dir: Path) -> Splits:
    config = validate_pack_config(Manifest.open(run_dir).data["config"], f"{run_dir}/manifest.json")
    index = {label: i for i, label in enumerate(config.label_names)}
    texts, labels = {}, {}
    for split in ("train", "validation", "test"):
        frame = pd.read_parquet(run_dir / "data" / f"{split}.parquet")
        texts[split] = frame["input"].astype(str).tolist()
        labels[split] = frame["label"].map(index).to_numpy()
    return Splits(config, texts, labels)


def full_probs(probs: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over every label of the pack (a class absent from training gets 0)."""
    out = np.zeros((len(probs), n_classes))
    out[:, classes] = probs
    return out


def tfidf_lr(s: Splits) -> tuple[dict, object]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline

    n = len(s.config.label_names)
    started, best = time.perf_counter(), None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            LogisticRegression(C=c, max_iter=3000),
        ).fit(s.texts["train"], s.labels["train"])
        score = f1_score(s.labels["validation"], model.predict(s.texts["validation"]), average="macro")
        if best is None or score > best[0]:
            best = (score, c, model)
    _, c, model = best
    classes = model.classes_

    def probs(texts: list[str]) -> np.ndarray:
        return full_probs(model.predict_proba(texts), classes, n)

    return {"settings": f"C={c} (of 0.3–30, on validation)", "train_seconds": time.perf_counter() - started}, probs


def hf_finetune(s: Splits, workdir: Path, fast: bool) -> tuple[dict, object]:
    """The plain fine-tune a practitioner would write: AutoModel + Trainer on gold labels, no teachers."""
    import torch
    from sklearn.metrics import f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )

    from toolkit.transformer_models import load_tokenizer, predict_proba, resolve_model

    config, source = s.config, resolve_model(s.config.student.model)
    tokenizer = load_tokenizer(source)
    names = config.label_names
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )

    def encode(split: str) -> list[dict]:
        encoded = tokenizer(s.texts[split], truncation=True, max_length=config.student.max_length)
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": int(y)}
            for ids, mask, y in zip(encoded["input_ids"], encoded["attention_mask"], s.labels[split], strict=True)
        ]

    epochs = config.distill.epochs
    args = TrainingArguments(
        output_dir=str(workdir / "hf_finetune"),
        num_train_epochs=epochs,
        learning_rate=FINETUNE_LEARNING_RATE,
        per_device_train_batch_size=config.distill.batch_size,
        per_device_eval_batch_size=64,
        warmup_steps=int(0.06 * epochs * len(s.texts["train"]) / config.distill.batch_size),
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        bf16=torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to="none",
        seed=config.split.seed,
        logging_steps=50,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encode("train"),
        eval_dataset=encode("validation"),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=lambda p: {"macro_f1": f1_score(p.label_ids, p.predictions.argmax(-1), average="macro")},
        callbacks=[EarlyStoppingCallback(early_stopping_patience=3)],
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    shutil.rmtree(workdir / "hf_finetune", ignore_errors=True)
    model = trainer.model.float().to("cpu").eval()

    def probs(texts: list[str]) -> np.ndarray:
        return predict_proba(model, tokenizer, texts, config.student.max_length)

    settings = f"{epochs:g} epochs max (early stop 3), lr {FINETUNE_LEARNING_RATE:g}, batch {config.distill.batch_size}"
    return {"settings": settings, "train_seconds": seconds}, probs


def setfit_model(s: Splits, workdir: Path, fast: bool) -> tuple[dict, object]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from toolkit.transformer_models import resolve_model

    names = s.config.label_names
    model = SetFitModel.from_pretrained(resolve_model(s.config.student.model), labels=names)
    model.model_body.max_seq_length = s.config.student.max_length
    train = Dataset.from_dict({"text": s.texts["train"], "label": [names[y] for y in s.labels["train"]]})
    iterations, max_steps = (5, 200) if fast else (SETFIT_ITERATIONS, SETFIT_MAX_STEPS)
    args = TrainingArguments(
        output_dir=str(workdir / "setfit"),
        batch_size=16,
        num_epochs=1,
        num_iterations=iterations,
        max_steps=max_steps,
        seed=s.config.split.seed,
        report_to="none",
        show_progress_bar=False,
    )
    started = time.perf_counter()
    Trainer(model=model, args=args, train_dataset=train).train()
    seconds = time.perf_counter() - started
    shutil.rmtree(workdir / "setfit", ignore_errors=True)
    model.to("cpu")

    # the LR head knows only the classes seen in training (as label ids, or as names)
    classes = np.array([names.index(c) if isinstance(c, str) else int(c) for c in model.model_head.classes_])

    def probs(texts: list[str]) -> np.ndarray:
        raw = np.asarray(model.predict_proba(texts, show_progress_bar=False), dtype=float)
        return full_probs(raw, classes, len(names))

    settings = f"1 epoch, {iterations} pair iterations, at most {max_steps} steps of 16 pairs, LR head"
    return {"settings": settings, "train_seconds": seconds}, probs


def evaluate_tool(s: Splits, info: dict, probs) -> dict:
    """A trained tool's test figures (the same code as our models') and its CPU latency."""
    entry = evaluate_model(
        s.labels["validation"], probs(s.texts["validation"]), s.labels["test"], probs(s.texts["test"]), s.config
    )
    texts = s.texts["test"]
    latency = measure_latency(lambda rows: probs([texts[i] for i in rows]), len(texts), s.config.compress.latency)
    return {**info, "test": slim_split(entry["test"]), "latency": latency}


def baselines(s: Splits, workdir: Path, fast: bool, log) -> dict:
    """Train each other tool on the run's split, evaluate it like our models, time it on the CPU."""
    out = {}
    for name, build in (
        ("tfidf_lr", lambda: tfidf_lr(s)),
        ("minilm_finetune", lambda: hf_finetune(s, workdir, fast)),
        ("setfit", lambda: setfit_model(s, workdir, fast)),
    ):
        log(f"[quality] {name}: training")
        entry = out[name] = evaluate_tool(s, *build())
        log(f"[quality] {name}: test macro F1 {entry['test']['macro_f1']:.3f}, p50 {entry['latency']['p50_ms']:.1f} ms")
    return out


def measure(data: DataSet, workdir: Path, fast: bool, threads: int, part: str, extra: dict) -> dict:
    """One data set's row: our pipeline, the other tools, or both (`part`); separate parts can run side by side
    as separate processes, as the data stage makes the same split from the same file, config and seed."""
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{data.name} {time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    set_threads(threads)
    row: dict = {"name": data.name, "title": data.title, "fast": fast}
    if part in ("all", "ours"):
        row["ours"] = run_ours(data, workdir, fast, threads, extra, log)
    else:
        run(default_request(data, workdir, fast, threads, extra), log=log, until="data")
    set_threads(threads)  # the pipeline's stages may have changed it
    splits = load_splits(workdir / "default")
    row["sizes"] = {split: len(texts) for split, texts in splits.texts.items()}
    row["critical"] = splits.config.critical_label
    if part in ("all", "baselines"):
        row["baselines"] = baselines(splits, workdir, fast, log)
    return row


def merge_parts(rows: list[dict]) -> list[dict]:
    """Rows of one data set measured in separate processes (`--part`) joined, in DATASETS order."""
    merged: dict[str, dict] = {}
    for row in rows:
        if row["name"] in merged and row["sizes"] != merged[row["name"]]["sizes"]:
            raise SystemExit(f"{row['name']}: the parts were measured on different splits ({row['sizes']})")
        merged.setdefault(row["name"], {}).update(row)
    order = [d.name for d in DATASETS]
    return sorted(merged.values(), key=lambda row: order.index(row["name"]))


# --- the table ------------------------------------------------------------------------------------------------------


def _f1(test: dict) -> str:
    interval = test.get("intervals", {}).get("macro_f1")
    interval = f" [{interval['low']:.2f}, {interval['high']:.2f}]" if interval else ""
    return f"{test['macro_f1']:.3f}{interval}"


TOOLS = {
    "tfidf_lr": "TF-IDF + LR",
    "minilm_finetune": "MiniLM-L6 fine-tune (HF Trainer)",
    "setfit": "SetFit (MiniLM-L6 body)",
}


def tool_entries(row: dict) -> list[tuple]:
    """(method, test figures, latency, training) of the other tools; majority comes from our run's report."""
    entries = []
    if "ours" in row:
        entries.append(("majority class", row["ours"]["metrics"]["models"]["majority_baseline"]["test"], None, "—"))
    for key, label in TOOLS.items():
        if key in row.get("baselines", {}):
            tool = row["baselines"][key]
            entries.append((label, tool["test"], tool["latency"], f"{tool['train_seconds']:.0f} s; {tool['settings']}"))
    return entries


def our_entries(ours: dict) -> list[tuple]:
    """The teacher ensemble, each recipe's student, and the deployed variant of the best recipe."""
    metrics, export, stages = ours["metrics"], ours["export"], ours["stage_seconds"]
    method = ours["ensemble_method"]
    whole = sum(seconds or 0 for stage, seconds in stages.items() if stage != "compress")
    entries = [
        (
            f"teacher ensemble ({method})",
            metrics["models"][f"ensemble_{method}"]["test"],
            export["teacher_ensemble"].get("latency"),
            f"{stages.get('teachers', 0):.0f} s (teachers stage)",
        )
    ]
    # results measured before distill cleared student/ compressed the default recipe's adapter: say so
    compressed = ours.get("compressed_recipe", ours["best_recipe"])
    for name, recipe in ours["recipes"].items():
        best = name == ours["best_recipe"]
        training = f"{recipe['distill_seconds']:.0f} s distill"
        entries.append(
            (
                f"**domain-distill student, {name}**" + (" ✓ best on validation" if best else ""),
                recipe["test"],
                export["models"]["student_fp32"]["latency"] if name == compressed else None,
                training + (f" ({whole:.0f} s whole run)" if name == "default" else ""),
            )
        )
    chosen = export["models"][export["chosen"]]
    entries.append(
        (
            f"**deployed: {compressed} → {export['chosen']}** ({chosen['size_bytes'] / 1e6:.0f} MB)"
            + ("" if compressed == ours["best_recipe"] else " †"),
            chosen["test"],
            chosen["latency"],
            f"{ours['compress_seconds']:.0f} s compress",
        )
    )
    return entries


def table(rows: list[dict]) -> str:
    lines = [
        "| data set (train / val / test) | method | test macro F1 [95% CI] | critical recall | p50 ms (CPU) "
        "| texts/s (batch 32) | training |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        critical, sizes = row["critical"], row["sizes"]
        entries = tool_entries(row) + (our_entries(row["ours"]) if "ours" in row else [])
        for i, (label, test, latency, training) in enumerate(entries):
            lead = f"{row['title']} ({sizes['train']} / {sizes['validation']} / {sizes['test']})" if i == 0 else ""
            recall = test["per_class"][critical]["recall"]
            speed = (f"{latency['p50_ms']:.1f}", f"{latency['throughput_per_s']:,.0f}") if latency else ("", "")
            lines.append(
                f"| {lead} | {label} | {_f1(test)} | {recall:.3f} ({critical}) | {speed[0]} | {speed[1]} | {training} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[d.name for d in DATASETS], help="these data sets only")
    parser.add_argument("--fast", action="store_true", help="--fast pipeline and short baselines (a smoke run)")
    parser.add_argument(
        "--part", choices=("all", "ours", "baselines"), default="all", help="measure only our pipeline or the others"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for our runs (repeatable)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the latency figures (default 2)")
    parser.add_argument("--out", type=Path, help="raw results (default bench/results/quality.json)")
    parser.add_argument("--workdir", type=Path, help="keep run folders here (default: a temporary folder)")
    parser.add_argument("--table-from", type=Path, nargs="+", help="render saved raw results instead of running")
    parser.add_argument("--machine", help="with --table-from: the machine the results were measured on")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument(
        "--section", default="quality", help="with --write: the BENCHMARKS.md section (one machine per section)"
    )
    args = parser.parse_args()
    if args.table_from:
        saved = read_saved(args.table_from)
        commands = {part["command"] for part in saved.parts}
        command = saved.command if len(commands) == 1 else f"{len(commands)} commands, in each file of --table-from"
        # the files name the machine each part ran on; --machine says it once for the table
        saved = replace(saved, command=command, machine=args.machine or saved.parts[0]["machine"])
    else:
        version = code_version()
        extra = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
        chosen = [d for d in DATASETS if not args.only or d.name in args.only]
        missing = [d for d in chosen if d.data is not None and not d.data.is_file()]
        for d in missing:
            print(f"skipped {d.name}: {d.data} not found (set SHARED_DATASETS to the folder of the real data sets)")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            base = args.workdir or Path(tmp)
            for data in chosen:
                if data not in missing:
                    rows.append(measure(data, base / data.name, args.fast, args.threads, args.part, extra))
        command = (
            "python bench/quality.py"
            + (" --fast" if args.fast else "")
            + (f" --only {' '.join(args.only)}" if args.only else "")
            + (f" --part {args.part}" if args.part != "all" else "")
            + "".join(f" --set {item}" for item in args.set)
        )
        out = args.out or ROOT / "bench" / "results" / "quality.json"
        machine = f"{cpu_name()}, {os.cpu_count()} cores, {accelerator()}; latency on {args.threads} CPU threads"
        saved = save_results(out, version, command, machine, rows=rows)
    rows = [row for part in saved.parts for row in part["rows"]]
    body = saved.header() + "\n\n" + table(merge_parts(rows))
    print(body)
    if args.write:
        title = "Quality against other tools, per data set"
        write_section(args.section, title if args.section == "quality" else f"{title} ({args.section})", body)


if __name__ == "__main__":
    sys.exit(main())
