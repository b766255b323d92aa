"""Build the student: any sequence classifier, wrapped with LoRA (PEFT) when the recipe asks for it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

from toolkit.config import LoraSpec, StudentSpec
from toolkit.errors import ConfigError
from toolkit.quiet import GRADIENT_CHECKPOINTING_NOTICE, quiet_warning
from toolkit.transformer_models import encoder_layers, load_classifier

# Attention projections by common names, for architectures PEFT's table does not list.
FALLBACK_TARGETS = ("query", "value", "q_proj", "v_proj", "q_lin", "v_lin", "c_attn")


def lora_target_modules(model: torch.nn.Module) -> list[str]:
    """LoRA target modules for this architecture: PEFT's table first, else attention projections found by name."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        return list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])
    linear_names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    found = [name for name in FALLBACK_TARGETS if name in linear_names]
    if not found:
        raise ConfigError(
            f"student.lora.target_modules: cannot find attention projections in a {model_type!r} model",
            hint=f"set them explicitly; linear layers found: {sorted(linear_names)[:12]}",
        )
    return found


def head_modules(model: torch.nn.Module) -> list[str]:
    """Modules between the encoder and the logits that LoRA must train in full.

    BERT-style classifiers read a pooler over the [CLS] token; a sentence encoder (e.g. all-MiniLM-L6-v2) never
    trained that pooler for classification, so freezing it leaves the student stuck near the majority class.
    """
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if any(True for _ in m.parameters())}
    return [name for name in ("pooler", "pre_classifier") if name in names]


def add_lora(model: torch.nn.Module, spec: LoraSpec, top_layers: int | None = None) -> PeftModel:
    """Wrap `model` with LoRA adapters; the classification head (and pooler) stay fully trainable. With
    `top_layers`, only the top layers get adapters (the fine phase's polish)."""
    layers = None
    if top_layers is not None:
        n_layers = len(encoder_layers(model)[1])
        layers = list(range(max(0, n_layers - top_layers), n_layers))
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules or lora_target_modules(model),
        modules_to_save=head_modules(model) or None,
        layers_to_transform=layers,
    )
    with quiet_warning(GRADIENT_CHECKPOINTING_NOTICE, FutureWarning):
        return get_peft_model(model, config)


def keep_layers(model: torch.nn.Module, keep: Sequence[int]) -> torch.nn.Module:
    """A smaller model made of a subset of the layers, initialised from them (DistilBERT-style)."""
    path, layers = encoder_layers(model)
    if not keep or any(i < 0 or i >= len(layers) for i in keep) or list(keep) != sorted(set(keep)):
        raise ConfigError(f"student.keep_layers: {list(keep)}; give increasing indices in 0..{len(layers) - 1}")
    kept = torch.nn.ModuleList(layers[i] for i in keep)
    parent = model
    for part in path.split(".")[:-1]:
        parent = getattr(parent, part)
    setattr(parent, path.split(".")[-1], kept)
    for new_index, layer in enumerate(kept):  # attention layers that know their index (caches) must follow
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    for key in ("num_hidden_layers", "n_layers", "n_layer"):
        if hasattr(model.config, key):
            setattr(model.config, key, len(kept))
    return model


def build_student(spec: StudentSpec, label_names: Sequence[str]) -> torch.nn.Module:
    """The student model: optionally layer-truncated, LoRA-wrapped unless `spec.lora` is None (full fine-tuning).

    >>> student = build_student(StudentSpec(model="minilm"), ["low", "medium", "high"])  # doctest: +SKIP
    """
    model = load_classifier(spec.model, label_names)
    if spec.keep_layers is not None:
        model = keep_layers(model, spec.keep_layers)
    return model if spec.lora is None else add_lora(model, spec.lora)


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
