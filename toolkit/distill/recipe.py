"""Run a distillation recipe: its phases in order, each optional, each logged with the validation metric after it.

coarse   soft targets (KD at temperature T, scheduled or adaptive) + gold labels
medium   as coarse, plus hidden-state and attention-map transfer from a transformer teacher
fine     gold labels only, LoRA on the top layers of the (merged) student: a light polish
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from sklearn.metrics import accuracy_score, recall_score
from transformers import PreTrainedTokenizerBase

from toolkit.config import LoraSpec, PackConfig, PhaseSpec
from toolkit.data.scores import macro_f1
from toolkit.data.splits import Split
from toolkit.distill.fit import FitSettings, device_batch, fit_classifier
from toolkit.distill.student import add_lora
from toolkit.distill.trainer import IntermediateTransfer
from toolkit.errors import ConfigError
from toolkit.logs import stage_log
from toolkit.transformer_models import load_classifier, predict_proba


@dataclass(frozen=True)
class PhaseResult:
    name: str
    epochs: float
    learning_rate: float
    validation_metric: str
    validation_value: float
    seconds: float


def recipe_phases(config: PackConfig) -> list[PhaseSpec]:
    return config.distill.phases or [PhaseSpec(name="coarse", epochs=config.distill.epochs)]


def validation_value(metric: str, y: np.ndarray, probs: np.ndarray, critical_index: int | None) -> float:
    predicted = probs.argmax(axis=1)
    if metric == "accuracy":
        return float(accuracy_score(y, predicted))
    if metric == "critical_recall" and critical_index is not None:
        return float(recall_score(y, predicted, labels=[critical_index], average="macro", zero_division=0))
    return macro_f1(y, predicted)


def _use_eager_attention(model: torch.nn.Module) -> None:
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    if base.config._attn_implementation != "eager":
        base.set_attn_implementation("eager")  # fused kernels return no attention maps


def run_recipe(
    config: PackConfig,
    student: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    validation: Split,
    work_root: Path,
    seed: int,
    teacher_model_dir: Callable[[str], Path],
    log: Callable[[str], None] = stage_log,
) -> tuple[torch.nn.Module, list[PhaseResult], list[dict]]:
    """Train `student` through the recipe's phases; return the final model, each phase's result, and the history."""
    recipe, labels = config.distill, config.label_names
    critical = labels.index(config.critical_label) if config.critical_label else None
    history: list[dict] = []
    results: list[PhaseResult] = []
    model = student
    for index, phase in enumerate(recipe_phases(config)):
        started = time.perf_counter()
        batch_size, learning_rate = device_batch(
            recipe.batch_size, phase.learning_rate or recipe.learning_rate, recipe.gpu_batch_size
        )
        common = dict(
            epochs=phase.epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=config.student.max_length,
            seed=seed,
            weight_decay=recipe.weight_decay,
            class_weights=recipe.class_weights,
            focal_gamma=recipe.focal_gamma,
            early_stopping_patience=recipe.early_stopping_patience,
            primary_metric=recipe.primary_metric,
            critical_index=critical,
            length_bucketing=recipe.length_bucketing,
        )
        intermediate = None
        phase_train, phase_validation = train, validation
        if phase.name == "fine":
            if isinstance(model, PeftModel):
                model = model.merge_and_unload()
            model = add_lora(model, config.student.lora or LoraSpec(), top_layers=phase.top_layers)
            settings = FitSettings(**common, alpha=1.0)
            phase_train = Split(train.texts, train.labels)
            phase_validation = Split(validation.texts, validation.labels)
        else:
            settings = FitSettings(
                **common,
                temperature=recipe.temperature,
                alpha=recipe.alpha,
                temperature_schedule=recipe.temperature_schedule,
                alpha_schedule=recipe.alpha_schedule,
            )
            if phase.name == "medium":
                intermediate = _intermediate(config, model, teacher_model_dir)
        log(f"phase {index + 1} {phase.name}: {phase.epochs:g} epochs at learning rate {learning_rate:g}")
        history += fit_classifier(
            model,
            tokenizer,
            phase_train,
            phase_validation,
            settings,
            work_root / f"{index + 1}-{phase.name}",
            intermediate,
        )
        probs = predict_proba(model, tokenizer, validation.texts, config.student.max_length)
        value = validation_value(recipe.primary_metric, np.asarray(validation.labels), probs, critical)
        results.append(
            PhaseResult(
                phase.name,
                phase.epochs,
                learning_rate,
                recipe.primary_metric,
                value,
                round(time.perf_counter() - started, 2),
            )
        )
        log(f"phase {index + 1} {phase.name}: validation {recipe.primary_metric} {value:.3f}")
    return model, results, history


def _intermediate(
    config: PackConfig, student: torch.nn.Module, teacher_model_dir: Callable[[str], Path]
) -> IntermediateTransfer:
    spec = config.distill.intermediate
    if spec is None:
        raise ConfigError("distill.phases: a `medium` phase needs `distill.intermediate` (teacher and layer_map)")
    teacher = load_classifier(str(teacher_model_dir(spec.teacher)), config.label_names)
    if spec.attention_weight > 0:
        _use_eager_attention(student)
        _use_eager_attention(teacher)
    return IntermediateTransfer(
        teacher=teacher,
        layer_map=[tuple(pair) for pair in spec.layer_map],
        hidden_weight=spec.hidden_weight,
        attention_weight=spec.attention_weight,
    )


def phases_record(results: list[PhaseResult]) -> list[dict]:
    return [asdict(r) for r in results]
