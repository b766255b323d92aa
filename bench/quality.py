"""Quality against the tools users would otherwise pick: every shared data set on its fixed split, the same rows
for every method, one run.

    python bench/quality.py [--only NAME ...] [--fast] [--threads 2] [--teacher NAME=MODEL] [--write]
    python bench/quality.py --table-from bench/results/quality-*.json --write

Per data set our pipeline runs first with its default recipe: teachers, filter (example data only), then the
recipe selection of the distill stage (the pack's recipe, the plain fine-tune of the student's base model, LoRA /
full / temperature variants, the best without each kind of filter sample, and the TF-IDF / tabular teachers, all
chosen on validation), evaluate and compress. Its split files (`../shared/splits/<set>/`, unchanged) are then what
every other method trains, tunes and is tested on:

    majority class          the most frequent training label
    TF-IDF + LR             word 1–2-grams, C chosen on validation from 5 values
    MiniLM-L6 fine-tune     plain `transformers.Trainer` on gold labels, the student's epochs and length, lr 5e-5,
                            best epoch on validation
    SetFit                  the `setfit` library on the same MiniLM-L6 body (contrastive pairs, then a LR head)

`--teacher NAME=MODEL` adds an `hf` teacher (a local folder or hub id) to every run: the stronger-teacher
experiment. CPU latency is timed for every method in this process, one text at a time (tokenization included).
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
    MIMIC_SPLIT_MAP,
    ROOT,
    SMS_SPLIT_MAP,
    SPLIT_COLUMNS,
    SPLITS,
    accelerator,
    code_version,
    read_saved,
    save_results,
    split_file,
    write_section,
)

from toolkit.compress.latency import measure_latency, set_threads
from toolkit.config import PackConfig, validate_pack_config
from toolkit.manifest import Manifest, cpu_name
from toolkit.metrics.evaluation import evaluate_model
from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, run

FINETUNE_LEARNING_RATE = 5e-5
SETFIT_ITERATIONS = 20  # the library's default number of pairs per training text
SETFIT_MAX_STEPS = 1500  # caps the pairs on the larger sets (batch 16: 24,000 pairs)
REAL_DATA = {"filter.enabled": False}  # the filter needs a generator prompt and pairs per pack: example data only


@dataclass(frozen=True)
class DataSet:
    name: str
    title: str
    pack: str  # a pack name, or "text" for a pack built here from the file's labels
    split_folder: str | None  # None: the pack's example data
    overrides: dict = field(default_factory=dict)
    critical: str | None = None  # "text" packs: the class whose recall is the critical figure
    peer: tuple[str, float] | None = None  # DESIGN.md's best peer on these rows: (method, test macro F1)
    drop: tuple[str, ...] = ()  # columns of the split files not used


DATASETS = [
    DataSet("finance_example", "finance example data", "finance_risk", None),
    DataSet("triage_example", "triage example data", "medical_triage", None),
    DataSet(
        "sms",
        "SMS smishing (ham=low, spam=medium, smishing=high)",
        "finance_risk",
        "sms_phishing",
        {**SMS_SPLIT_MAP, **REAL_DATA},
        peer=("MiniLM-L6 fine-tune", 0.909),
    ),
    DataSet(
        "symptom2disease",
        "Symptom2Disease (24 diseases; critical: Pneumonia)",
        "text",
        "symptom2disease",
        {"input_map.drop_conflicting": True, **REAL_DATA},
        critical="Pneumonia",
        peer=("TF-IDF + LR", 0.983),
    ),
    DataSet(
        "speech_intent",
        "Medical speech intent (25 symptoms, one row per distinct phrase; critical: Heart hurts)",
        "text",
        "medical_speech_intent",
        {"input_map.drop_conflicting": True, **REAL_DATA},
        critical="Heart hurts",
        peer=("SetFit", 0.863),
    ),
    DataSet(
        "german_credit",
        "German credit (the peers' text + the 20 columns as typed fields; good=low, bad=high)",
        "finance_risk",
        "german_credit",
        {
            "input_map.columns": {**SPLIT_COLUMNS, "*": "fields"},
            "input_map.labels": {"good": "low", "bad": "high"},
            "render.template": "{text}",  # the text already names every column's meaning; the fields feed tables
            "teachers": [
                {"name": "tfidf_lr", "kind": "sklearn"},
                {"name": "gbm_fields", "kind": "tabular"},
                {"name": "linear_fields", "kind": "tabular", "options": {"model": "linear"}},
                {
                    "name": "minilm_finetuned",
                    "kind": "hf",
                    "options": {"model": "minilm", "epochs": 6, "learning_rate": 1e-4},
                },
            ],
            "deferral.scope.require_fields": False,
            **REAL_DATA,
        },
        peer=("one-hot tabular LR", 0.724),
    ),
    DataSet(
        "mimic_ed",
        "MIMIC-IV-ED demo (ESI 1–2 emergent, 3–4 urgent; split by patient)",
        "medical_triage",
        "triage_mimic_ed_demo",
        {**MIMIC_SPLIT_MAP, **REAL_DATA},
        drop=("text",),  # the peers' serialised row; our input is the complaint with the vitals as fields
    ),
]


TEXT_PACK_TEACHERS = [
    {"name": "tfidf_lr", "kind": "sklearn"},
    {"name": "minilm_finetuned", "kind": "hf", "options": {"model": "minilm", "epochs": 6, "learning_rate": 1e-4}},
]


def teachers_with(data: DataSet, added: list[dict]) -> list[dict]:
    """The data set's teachers (its override, else its pack's) and the `--teacher` ones."""
    if "teachers" in data.overrides:
        base = data.overrides["teachers"]
    elif data.pack == "text":
        base = TEXT_PACK_TEACHERS
    else:
        base = [t.model_dump(mode="json") for t in load_pack(data.pack).config.teachers]
    return [*base, *added]


def text_pack(folder: Path, data: DataSet, labels: list[str]) -> Path:
    """A pack for a plain text-classification file, as `domain-distill init` would start one: the file's labels,
    a TF-IDF and a MiniLM teacher, the default student. Returns the pack folder."""
    config = {
        "name": data.name,
        "description": data.title,
        "labels": [{"name": label} for label in labels],
        "critical_label": data.critical,
        "columns": {"text": "text", "label": "label", "split": "split"},
        "render": {"template": "{text}"},
        "targets": [
            {"metric": "recall", "label": data.critical, "at_least": 0.9},
            {"metric": "macro_f1", "at_least": 0.8},
        ],
        "teachers": TEXT_PACK_TEACHERS,
        "student": {"model": "minilm", "lora": {"r": 8, "alpha": 16, "dropout": 0.1}, "max_length": 128},
        "distill": {"temperature": 2.0, "alpha": 0.5, "epochs": 8, "learning_rate": 2e-3, "batch_size": 16},
    }
    target = folder / data.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "pack.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return target


# --- our pipeline -------------------------------------------------------------------------------------------------


def request_for(data: DataSet, workdir: Path, fast: bool, threads: int, extra: dict) -> RunRequest:
    """The default-recipe run on the fixed split (or the pack's example data)."""
    path = split_file(data.split_folder, workdir / f"{data.name}.csv", data.drop) if data.split_folder else None
    pack = data.pack
    if pack == "text":
        labels = sorted(pd.read_csv(path, dtype=str)["label"].dropna().unique())
        pack = str(text_pack(workdir / "packs", data, labels))
    overrides = {**data.overrides, "compress.latency.threads": threads, "compress.latency.texts": 100, **extra}
    return RunRequest(domain=pack, data=path, out=workdir / "run", fast=fast, overrides=overrides)


def run_ours(request: RunRequest, log) -> dict:
    """One pipeline run; what the table needs from its report, its recipe selection and its export."""
    started = time.perf_counter()
    result = run(request, log=log)
    manifest = Manifest.open(request.out).data
    export = json.loads((request.out / "export" / "metrics.json").read_text())
    for entry in export["models"].values():
        for key in ("policy", "validation", "deferral"):
            entry.pop(key, None)
        entry["test"] = slim_split(entry["test"])
    metrics = result.metrics
    splits = load_splits(request.out)
    for candidate in metrics["selection"]["candidates"]:  # test figures for the table: reported, never chosen on
        stored = request.out / "student" / "candidates" / candidate["name"] / "probs.npz"
        if stored.is_file():
            with np.load(stored) as probs:
                entry = evaluate_model(
                    splits.labels["validation"],
                    probs["validation"],
                    splits.labels["test"],
                    probs["test"],
                    splits.config,
                )
            candidate["test"] = slim_split(entry["test"])
    return {
        "ensemble_method": manifest["config"]["ensemble"]["method"],
        "seconds": time.perf_counter() - started,
        "stage_seconds": {name: entry.get("seconds") for name, entry in manifest["stages"].items()},
        "teachers": [t["name"] for t in manifest["config"]["teachers"]],
        "models": {
            name: {"role": e["role"], "test": slim_split(e["test"]), "validation_macro_f1": e["validation"]["macro_f1"]}
            for name, e in metrics["models"].items()
        },
        "selection": metrics["selection"],
        "versus_baselines": metrics["versus_baselines"],
        "deferral": {k: metrics["deferral"][k] for k in ("sentence",)} if metrics.get("deferral") else None,
        "export": {"chosen": export["chosen"], "models": export["models"]},
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
        source,
        dtype=torch.float32,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
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
    return {
        **info,
        "validation_macro_f1": entry["validation"]["macro_f1"],
        "test": slim_split(entry["test"]),
        "latency": latency,
    }


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
    row: dict = {"name": data.name, "title": data.title, "fast": fast, "peer": data.peer}
    request = request_for(data, workdir, fast, threads, extra)
    if part in ("all", "ours"):
        row["ours"] = run_ours(request, log)
    else:
        run(request, log=log, until="data")
    set_threads(threads)  # the pipeline's stages may have changed it
    splits = load_splits(request.out)
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
    "tfidf_lr": "TF-IDF + LR (C on validation)",
    "minilm_finetune": "MiniLM-L6 fine-tune (HF Trainer)",
    "setfit": "SetFit (MiniLM-L6 body)",
}


def tool_entries(row: dict) -> list[tuple]:
    """(method, validation macro F1, test figures, latency, training) of the other tools."""
    entries = []
    for key, label in TOOLS.items():
        if key in row.get("baselines", {}):
            tool = row["baselines"][key]
            training = f"{tool['train_seconds']:.0f} s; {tool['settings']}"
            entries.append((label, tool.get("validation_macro_f1"), tool["test"], tool["latency"], training))
    return entries


def our_entries(ours: dict) -> list[tuple]:
    """The run's own baselines and teachers, the ensemble, every recipe candidate, and the deployed model."""
    models, selection, export = ours["models"], ours["selection"], ours["export"]
    method = ours["ensemble_method"]
    stages = ours["stage_seconds"]
    entries = [("majority class", None, models["majority_baseline"]["test"], None, "—")]
    for name in ours["teachers"]:
        entries.append((f"teacher {name}", models[name]["validation_macro_f1"], models[name]["test"], None, ""))
    ensemble = f"ensemble_{method}"
    entries.append(
        (
            f"teacher ensemble ({method})",
            models[ensemble]["validation_macro_f1"],
            models[ensemble]["test"],
            None,
            f"{stages.get('teachers', 0):.0f} s teachers stage",
        )
    )
    for c in selection["candidates"]:
        if "teacher" in c["details"]:
            continue  # listed above, as a teacher
        mark = " ✓ chosen" if c["name"] == selection["chosen"] else ""
        test = c.get("test")
        f1 = c["validation"].get("macro_f1")
        entries.append(
            (
                f"candidate {c['name']}{mark}",
                f1,
                test,
                None,
                f"{c['seconds']:.0f} s" if c["value"] is not None else c["status"],
            )
        )
    chosen = export["models"][export["chosen"]]
    entries.append(
        (
            f"**deployed: {selection['chosen']} → {export['chosen']}** ({chosen['size_bytes'] / 1e6:.1f} MB)",
            None,
            chosen["test"],
            chosen["latency"],
            f"{ours['seconds']:.0f} s whole run (selection {selection['seconds']:.0f} s)",
        )
    )
    return entries


def verdict(row: dict) -> str:
    """The issue's target on a shared set: deployed ≥ best peer − 0.01, or the run shipped a baseline."""
    if not row.get("peer") or "ours" not in row:
        return ""
    method, value = row["peer"]
    ours = row["ours"]
    deployed = ours["export"]["models"][ours["export"]["chosen"]]["test"]["macro_f1"]
    gap = deployed - value
    shipped = ours["selection"]["baseline_chosen"]
    status = "met" if gap >= -0.01 else ("baseline shipped" if shipped else f"missed by {-gap - 0.01:.3f}")
    return f"best peer in DESIGN.md: {method} {value:.3f}; deployed {deployed:.3f} ({gap:+.3f}): **{status}**"


def table(rows: list[dict]) -> str:
    lines = [
        "| data set (train / val / test) | method | validation macro F1 | test macro F1 [95% CI] | critical recall "
        "| p50 ms (CPU) | training |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        critical, sizes = row["critical"], row["sizes"]
        entries = tool_entries(row) + (our_entries(row["ours"]) if "ours" in row else [])
        for i, (label, validation, test, latency, training) in enumerate(entries):
            lead = f"{row['title']} ({sizes['train']} / {sizes['validation']} / {sizes['test']})" if i == 0 else ""
            recall = f"{test['per_class'][critical]['recall']:.3f}" if test and critical else ""
            val = f"{validation:.3f}" if validation is not None else ""
            speed = f"{latency['p50_ms']:.1f}" if latency else ""
            shown = _f1(test) if test else ""
            lines.append(f"| {lead} | {label} | {val} | {shown} | {recall} | {speed} | {training} |")
        if verdict(row):
            lines.append(f"| | {verdict(row)} | | | | | |")
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
    parser.add_argument(
        "--teacher", action="append", default=[], metavar="NAME=MODEL", help="add an hf teacher (folder or hub id)"
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
        added = [
            {"name": name, "kind": "hf", "options": {"model": model, "epochs": 6, "learning_rate": 3e-5}}
            for name, _, model in (item.partition("=") for item in args.teacher)
        ]
        chosen = [d for d in DATASETS if not args.only or d.name in args.only]
        missing = [d for d in chosen if d.split_folder and not (SPLITS / d.split_folder).is_dir()]
        for d in missing:
            print(f"skipped {d.name}: {SPLITS / d.split_folder} not found (set SHARED_SPLITS to the splits folder)")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            base = args.workdir or Path(tmp)
            for data in chosen:
                if data not in missing:
                    extras = {**extra, **({"teachers": teachers_with(data, added)} if added else {})}
                    rows.append(measure(data, base / data.name, args.fast, args.threads, args.part, extras))
        command = (
            "python bench/quality.py"
            + (" --fast" if args.fast else "")
            + (f" --only {' '.join(args.only)}" if args.only else "")
            + (f" --part {args.part}" if args.part != "all" else "")
            + "".join(f" --teacher {item}" for item in args.teacher)
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
