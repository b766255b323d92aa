"""Train a sequence classifier on gold labels and, optionally, teacher soft targets (one code path for both).

The best epoch on the validation metric is kept (in memory: toolkit/distill/best_epoch.py), training stops early
when it stops improving, a checkpoint is written at an epoch's end once a minute has passed since the last, and a
killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, recall_score
from transformers import EvalPrediction, PreTrainedTokenizerBase, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint

from toolkit.config import ScheduleSpec
from toolkit.data.scores import macro_f1
from toolkit.data.splits import Split
from toolkit.distill.batches import EncodedExamples, PaddingCollator
from toolkit.distill.best_epoch import BestEpochKeeper
from toolkit.distill.schedules import Schedule
from toolkit.distill.trainer import DistillationArguments, DistillationTrainer, IntermediateTransfer
from toolkit.safe_io import atomic_write_text


def device_batch(batch_size: int, learning_rate: float, gpu_batch_size: int | None) -> tuple[int, float]:
    """(batch, learning rate) for this device. A GPU is mostly idle at the CPU's batch of 16, so it takes
    `gpu_batch_size` with the learning rate scaled by the square root of the ratio (the rule for Adam); the epochs,
    hence the rows seen, stay the same.

    >>> device_batch(16, 2e-3, 64)  # on a GPU  # doctest: +SKIP
    (64, 0.004)
    """
    if not torch.cuda.is_available() or not gpu_batch_size or gpu_batch_size <= batch_size:
        return batch_size, learning_rate
    return gpu_batch_size, learning_rate * math.sqrt(gpu_batch_size / batch_size)


def capped_epochs(epochs: float, rows: int, max_samples: int | None) -> float:
    """`epochs`, cut on large data so that training sees at most `max_samples` rows (at least one epoch): cost grows
    linearly with the data instead of with data x epochs, and a large set needs fewer passes.

    >>> capped_epochs(8, 1_680, 40_000), capped_epochs(8, 14_400, 40_000), capped_epochs(8, 70_000, 40_000)
    (8, 2.78, 1.0)
    """
    if not max_samples or rows * epochs <= max_samples:
        return epochs
    return max(1.0, round(max_samples / rows, 2))


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
    temperature_schedule: ScheduleSpec | None = None
    alpha_schedule: ScheduleSpec | None = None
    class_weights: str = "none"  # "none" | "balanced"
    focal_gamma: float = 0.0
    early_stopping_patience: int | None = None
    primary_metric: str = "macro_f1"  # "macro_f1" | "critical_recall" | "accuracy"
    critical_index: int | None = None
    length_bucketing: bool | None = None  # group batches by length (LengthGroupedSampler); None: on a GPU only
    checkpoint_seconds: float = 60.0  # a checkpoint at the first epoch end this long after the last (0: every epoch)


def _bucketing(settings: FitSettings) -> bool:
    return torch.cuda.is_available() if settings.length_bucketing is None else settings.length_bucketing


def _metrics(critical_index: int | None):
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        y, predicted = prediction.label_ids, logits.argmax(-1)
        out = {
            "macro_f1": macro_f1(y, predicted),
            "accuracy": float(accuracy_score(y, predicted)),
        }
        if critical_index is not None:
            out["critical_recall"] = float(
                recall_score(y, predicted, labels=[critical_index], average="macro", zero_division=0)
            )
        return out

    return compute


def balanced_class_weights(labels: Sequence[int], n_classes: int) -> torch.Tensor:
    """n / (C · count) per class, as scikit-learn's "balanced"; classes absent from training get weight 1."""
    counts = np.bincount(np.asarray(labels), minlength=n_classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


def fit_classifier(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    validation: Split,
    settings: FitSettings,
    work_dir: Path,
    intermediate: IntermediateTransfer | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> list[dict]:
    """Train `model` in place (best validation epoch restored) and return the Trainer's log history; the per-step
    temperature / α / KD-loss trace is written to `work_dir/schedule.json`."""
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
        focal_gamma=settings.focal_gamma,
        eval_strategy="epoch",
        save_strategy="epoch",  # BestEpochKeeper lets an epoch's save through by the clock
        save_total_limit=1,  # the best epoch's weights are inside the last checkpoint
        logging_steps=max(1, steps_per_epoch // 4),
        label_names=["labels"],
        remove_unused_columns=False,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        dataloader_pin_memory=torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        use_cpu=not torch.cuda.is_available(),  # also what makes several CPU processes train with DDP (gloo)
        train_sampling_strategy="group_by_length" if _bucketing(settings) else "random",
    )
    n_classes = int(model.config.num_labels)
    resume_from = get_last_checkpoint(str(work_dir)) if work_dir.is_dir() else None
    keeper = BestEpochKeeper(
        settings.primary_metric, settings.checkpoint_seconds, settings.early_stopping_patience, resume_from
    )
    callbacks = [*callbacks, keeper]
    trainer = DistillationTrainer(
        model=model,
        args=args,
        train_dataset=EncodedExamples(tokenizer, train.texts, train.labels, settings.max_length, train.teacher_probs),
        eval_dataset=EncodedExamples(
            tokenizer, validation.texts, validation.labels, settings.max_length, validation.teacher_probs
        ),
        data_collator=PaddingCollator(tokenizer),
        compute_metrics=_metrics(settings.critical_index),
        callbacks=callbacks,
        temperature_schedule=Schedule(settings.temperature_schedule) if settings.temperature_schedule else None,
        alpha_schedule=Schedule(settings.alpha_schedule) if settings.alpha_schedule else None,
        class_weights=balanced_class_weights(train.labels, n_classes) if settings.class_weights == "balanced" else None,
        intermediate=intermediate,
    )
    trainer.train(resume_from_checkpoint=resume_from)
    if trainer.is_world_process_zero():
        atomic_write_text(work_dir / "schedule.json", json.dumps(trainer.schedule_trace()))
    return trainer.state.log_history


def remove_checkpoints(work_dir: Path) -> None:
    """Checkpoints only matter until the final model is saved; they are large, so drop them then."""
    for checkpoint in work_dir.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
