"""Shared fixtures: a tiny BERT built from a config (saved and re-loaded through from_pretrained), packs, data."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def make_bert(folder: Path, hidden: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """A small BERT classifier built from a config, with MiniLM's tokenizer, saved like any checkpoint."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from toolkit.transformer_models import load_tokenizer

    tokenizer = load_tokenizer("minilm")
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        num_labels=3,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT classifier."""
    return make_bert(tmp_path_factory.mktemp("tiny-bert"))


def failure_summary(stderr: str, tail: int = 40) -> str:
    """What a failed `accelerate launch` printed, per rank: the last lines each rank wrote (its traceback), then the
    launcher's own tail. A plain tail of stderr shows only the last rank to die, usually the one that was waiting."""
    import re

    by_rank: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        found = re.match(r"\[rank(\d+)\]:(.*)", line)
        if found:
            by_rank.setdefault(found.group(1), []).append(found.group(2))
    parts = [f"--- rank {rank} ---\n" + "\n".join(lines[-tail:]) for rank, lines in sorted(by_rank.items())]
    return "\n".join([*parts, "--- launcher ---", *stderr.splitlines()[-tail:]])


@pytest.fixture(scope="session")
def finance_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 rows of the finance pack's example data."""
    frame = pd.read_csv(REPO_ROOT / "data_templates" / "finance_risk" / "example_labeled.csv", dtype=str)
    path = tmp_path_factory.mktemp("finance") / "sample.csv"
    frame.head(150).to_csv(path, index=False)
    return path


def tiny_overrides(model_dir: Path) -> dict:
    """Run overrides that swap every transformer for the tiny model and shorten training."""
    return {
        "teachers": [
            {"name": "tfidf_lr", "kind": "sklearn"},
            {"name": "tiny_bert", "kind": "hf", "options": {"model": str(model_dir), "epochs": 1, "batch_size": 16}},
        ],
        "student.model": str(model_dir),
        "student.max_length": 64,
        "distill.epochs": 1,
        "recipe_search.variants": [],  # the recipe and the fine-tune baseline; tests of selection add variants
        "recipe_search.min_steps": 0,
        "recipe_search.teachers": False,  # a transformer is deployed; test_selection ships a teacher
        "filter.enabled": False,  # tests that exercise the filter stage add `tiny_filter_overrides()`
        "compress.enabled": False,  # ... and the compress stage `tiny_compress_overrides()`
    }


def tiny_compress_overrides() -> dict:
    """The compress stage with few timed texts and repeats."""
    return {
        "compress.enabled": True,
        "compress.prune.step": 0.25,
        "compress.prune.recovery_epochs": 1.0,  # off by default; on here so that its path stays tested
        "compress.latency.texts": 16,
        "compress.latency.warmup": 2,
        "compress.latency.repeats": 1,
        "compress.latency.batch_size": 8,
    }


def tiny_filter_overrides() -> dict:
    """The filter stage on (very) small settings: a 1-layer generator, a few PPO steps, small batches."""
    return {
        "filter.enabled": True,
        "filter.reward.epochs": 1,
        "filter.reward.agreement_pairs": 30,
        "filter.reward.generated_pairs": 6,
        "filter.reward.max_length": 64,
        "filter.generator.layers": 1,
        "filter.generator.hidden": 32,
        "filter.generator.heads": 2,
        "filter.generator.sft_epochs": 1,
        "filter.generator.max_length": 64,
        "filter.generator.ppo_episodes": 4,
        "filter.generator.ppo_batch_size": 2,
        "filter.generator.ppo_epochs": 1,
        "filter.generator.response_length": 12,
        "filter.generator.samples": 12,
        "filter.selection.batch_size": 8,
    }


@pytest.fixture()
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATASETS} (the ../shared checkout is absent)")
    return SHARED_DATASETS
