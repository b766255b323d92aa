"""Train a sequence classifier on gold labels and, optionally, teacher soft targets (one code path for both).

Checkpoints are written every epoch and the best epoch on validation macro F1 is kept; a killed run resumes from
its last checkpoint.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from transformers import EvalPrediction, PreTrainedTokenizerBase, set_seed
from transformers.trainer_utils import get_last_checkpoint

from toolkit.distill.batches import EncodedExamples, PaddingCollator
from toolkit.distill.trainer import DistillationArguments, DistillationTrainer


@dataclass(frozen=True)
class FitSettings:
    epochs: float
    learning_rate: float
    batch_size: int
    max_length: int
    seed: int
    temperature: float = 1.0
    alpha: float = 1.0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06


@dataclass(frozen=True)
class Split:
    """One split's rendered inputs and label indices; `rows` holds the structured fields for tabular teachers."""

    texts: Sequence[str]
    labels: Sequence[int]
    teacher_probs: np.ndarray | None = None
    rows: pd.DataFrame | None = None


def _macro_f1(prediction: EvalPrediction) -> dict[str, float]:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"macro_f1": float(f1_score(prediction.label_ids, logits.argmax(-1), average="macro", zero_division=0))}


def fit_classifier(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    validation: Split,
    settings: FitSettings,
    work_dir: Path,
) -> list[dict]:
    """Train `model` in place (best validation epoch restored) and return the Trainer's log history."""
    set_seed(settings.seed)
    steps_per_epoch = max(1, int(np.ceil(len(train.texts) / settings.batch_size)))
    args = DistillationArguments(
        output_dir=str(work_dir),
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=64,
        weight_decay=settings.weight_decay,
        warmup_steps=int(settings.warmup_ratio * steps_per_epoch * settings.epochs),
        temperature=settings.temperature,
        alpha=settings.alpha,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_steps=max(1, steps_per_epoch // 4),
        label_names=["labels"],
        remove_unused_columns=False,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        dataloader_pin_memory=torch.cuda.is_available(),
        save_only_model=False,
    )
    trainer = DistillationTrainer(
        model=model,
        args=args,
        train_dataset=EncodedExamples(tokenizer, train.texts, train.labels, settings.max_length, train.teacher_probs),
        eval_dataset=EncodedExamples(
            tokenizer, validation.texts, validation.labels, settings.max_length, validation.teacher_probs
        ),
        data_collator=PaddingCollator(tokenizer),
        compute_metrics=_macro_f1,
    )
    resume_from = get_last_checkpoint(str(work_dir)) if work_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer.state.log_history


def remove_checkpoints(work_dir: Path) -> None:
    """Checkpoints only matter until the final model is saved; they are large, so drop them then."""
    for checkpoint in work_dir.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
