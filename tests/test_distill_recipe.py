"""The distillation engine with tiny models: phases, schedules, intermediate transfer, smaller students, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.config import LoraSpec, StudentSpec
from toolkit.data.splits import Split
from toolkit.distill.fit import FitSettings, fit_classifier
from toolkit.distill.student import build_student, keep_layers, lora_target_modules
from toolkit.errors import ConfigError
from toolkit.pipeline import RunRequest, run
from toolkit.transformer_models import encoder_layers, load_classifier, load_tokenizer

from .conftest import REPO_ROOT, make_bert, tiny_overrides

LABELS = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def three_phase_run(tmp_path_factory, tiny_model_dir: Path, finance_sample: Path):
    """coarse (linear T 3 -> 0.5) -> medium (hidden + attention transfer from a 48-wide teacher) -> fine."""
    root = tmp_path_factory.mktemp("recipe")
    wide = make_bert(root / "wide-teacher", hidden=48, layers=2, heads=4)
    overrides = tiny_overrides(tiny_model_dir) | {
        "teachers": [
            {"name": "tfidf_lr", "kind": "sklearn"},
            {"name": "wide", "kind": "hf", "options": {"model": str(wide), "epochs": 1}},
        ],
        "distill.temperature_schedule": {"kind": "linear", "start": 3.0, "end": 0.5},
        "distill.phases": [
            {"name": "coarse", "epochs": 1},
            {"name": "medium", "epochs": 1},
            {"name": "fine", "epochs": 1, "top_layers": 1},
        ],
        "distill.intermediate": {"teacher": "wide", "layer_map": [[1, 1], [2, 2]]},
    }
    result = run(
        RunRequest(domain="finance_risk", data=finance_sample, out=root / "run", overrides=overrides),
        log=lambda _: None,
    )
    return result


def test_every_phase_runs_and_records_its_metric(three_phase_run) -> None:
    phases = json.loads((three_phase_run.run_dir / "student" / "phases.json").read_text())
    assert [p["name"] for p in phases] == ["coarse", "medium", "fine"]
    assert all(p["validation_metric"] == "macro_f1" for p in phases)
    # the last phase's figure is the trained model's, the one the recipe selection compares
    selection = json.loads((three_phase_run.run_dir / "student" / "selection.json").read_text())
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["chosen"])
    assert phases[-1]["validation_value"] == pytest.approx(chosen["validation"]["macro_f1"])


def test_temperature_follows_the_schedule_and_is_logged_every_step(three_phase_run) -> None:
    trace = json.loads((three_phase_run.run_dir / "student" / "schedule.json").read_text())["1-coarse"]
    temperatures = [step["temperature"] for step in trace]
    assert temperatures[0] == pytest.approx(3.0)
    assert all(a >= b for a, b in zip(temperatures, temperatures[1:], strict=False))
    assert len(temperatures) == len({s["step"] for s in trace})  # one entry per optimisation step
    assert all(s["kd"] > 0 for s in trace)  # soft targets are never matched exactly


def test_medium_phase_adds_the_intermediate_loss(three_phase_run) -> None:
    trace = json.loads((three_phase_run.run_dir / "student" / "schedule.json").read_text())
    assert all(s["intermediate"] > 0 for s in trace["2-medium"])
    assert all("intermediate" not in s for s in trace["1-coarse"])


def test_fine_phase_trains_on_gold_labels_only(three_phase_run) -> None:
    trace = json.loads((three_phase_run.run_dir / "student" / "schedule.json").read_text())["3-fine"]
    assert all(s["alpha"] == 1.0 and s["kd"] is None for s in trace)


def test_medium_phase_needs_an_hf_teacher_in_the_config() -> None:
    from toolkit.config import apply_overrides
    from toolkit.packs import load_pack

    config = load_pack("finance_risk").config
    with pytest.raises(ConfigError, match="a `medium` phase needs `distill.intermediate`"):
        apply_overrides(config, {"distill.phases": [{"name": "medium"}]})
    with pytest.raises(ConfigError, match="'tfidf_lr' is not an hf teacher"):
        apply_overrides(config, {"distill.intermediate": {"teacher": "tfidf_lr", "layer_map": [[1, 1]]}})


def test_smaller_student_keeps_the_chosen_teacher_layers(tmp_path: Path) -> None:
    deep = make_bert(tmp_path / "deep", hidden=32, layers=4)
    full = load_classifier(str(deep), LABELS)
    small = build_student(StudentSpec(model=str(deep), lora=None, keep_layers=[0, 3]), LABELS)
    _, layers = encoder_layers(small)
    assert len(layers) == 2 and small.config.num_hidden_layers == 2
    for kept, original in ((layers[0], encoder_layers(full)[1][0]), (layers[1], encoder_layers(full)[1][3])):
        for a, b in zip(kept.parameters(), original.parameters(), strict=True):
            assert torch.equal(a, b)
    small.save_pretrained(tmp_path / "small")
    assert len(encoder_layers(load_classifier(str(tmp_path / "small"), LABELS))[1]) == 2
    with pytest.raises(ConfigError, match="give increasing indices in 0..3"):
        keep_layers(load_classifier(str(deep), LABELS), [3, 1])


def test_lora_targets_are_found_per_architecture(tmp_path: Path) -> None:
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
    )

    assert lora_target_modules(load_classifier(str(make_bert(tmp_path / "b", 32, 2)), LABELS)) == ["query", "value"]
    distil = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2, hidden_dim=64, num_labels=3)
    )
    assert lora_target_modules(distil) == ["q_lin", "v_lin"]
    gpt2 = GPT2ForSequenceClassification(GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=2, num_labels=3))
    assert lora_target_modules(gpt2) == ["c_attn"]


def test_early_stopping_ends_training_when_validation_stops_improving(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = build_student(StudentSpec(model=str(tiny_model_dir), lora=LoraSpec()), LABELS)
    texts = [f"case {i} {'wire' if i % 3 else 'salary'}" for i in range(48)]
    data = Split(texts, [i % 3 for i in range(48)])
    settings = FitSettings(
        epochs=10, learning_rate=1e-9, batch_size=16, max_length=16, seed=0, early_stopping_patience=1
    )
    history = fit_classifier(model, load_tokenizer(str(tiny_model_dir)), data, data, settings, tmp_path / "w")
    epochs_run = max(entry.get("epoch", 0) for entry in history)
    assert epochs_run <= 3  # the metric cannot improve at lr 1e-9: stopped after patience, not after 10 epochs


def test_killed_training_resumes_from_its_last_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tests.test_distill_recipe import resumable_job
        resumable_job(Path({str(tiny_model_dir)!r}), Path({str(work)!r}), slow=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env={**os.environ})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any(work.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    saved = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert saved, "a checkpoint should exist before the kill"
    resumed_from = int(saved[-1].name.split("-")[1])
    resumable_job(tiny_model_dir, work, slow=False)
    steps_after = [s["step"] for s in json.loads((work / "schedule.json").read_text())]
    assert steps_after[0] == resumed_from  # training went on from the checkpoint, not from step 0
    assert steps_after[-1] == 4 * 6 - 1


def resumable_job(model_dir: Path, work: Path, slow: bool) -> None:
    """4 epochs of 6 steps on a tiny model; `slow` sleeps in every step so that a test can kill it midway."""
    from transformers import TrainerCallback

    import toolkit.distill.fit as fit_module

    model = build_student(StudentSpec(model=str(model_dir), lora=LoraSpec()), LABELS)
    texts = [f"case {i} {'wire' if i % 3 else 'salary'}" for i in range(96)]
    data = Split(texts, [i % 3 for i in range(96)], teacher_probs=np.full((96, 3), 1 / 3))
    settings = FitSettings(
        epochs=4, learning_rate=1e-3, batch_size=16, max_length=16, seed=0, alpha=0.5, checkpoint_seconds=0.0
    )

    class Slow(TrainerCallback):
        def on_step_end(self, *args, **kwargs):
            time.sleep(0.3 if slow else 0.0)

    original = fit_module.DistillationTrainer

    class SlowTrainer(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(Slow())

    fit_module.DistillationTrainer = SlowTrainer
    try:
        fit_classifier(model, load_tokenizer(str(model_dir)), data, data, settings, work)
    finally:
        fit_module.DistillationTrainer = original


def test_length_bucketing_cuts_padding(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Batches of similar length: far fewer pad tokens than random batches of short and long texts."""
    texts = [("wire " * (2 if i % 2 else 24)).strip() for i in range(64)]
    data, tokenizer = Split(texts, [i % 3 for i in range(64)]), load_tokenizer(str(tiny_model_dir))
    padding = {}
    for bucketing in (False, True):
        model = build_student(StudentSpec(model=str(tiny_model_dir), lora=None), LABELS)
        seen: list[int] = []

        def count_pads(module, args, kwargs, seen=seen):
            if module.training:
                seen.append(int((kwargs["attention_mask"] == 0).sum()))

        model.register_forward_pre_hook(count_pads, with_kwargs=True)
        settings = FitSettings(
            epochs=1, learning_rate=1e-4, batch_size=8, max_length=32, seed=0, length_bucketing=bucketing
        )
        fit_classifier(model, tokenizer, data, data, settings, tmp_path / f"w{bucketing}")
        padding[bucketing] = sum(seen)
    assert padding[True] < padding[False] / 3  # measured: 176 against 704
