"""Structured attention-head pruning for BERT-style encoders.

Importance of a head is the accumulated |dL/dg| of a gate g that scales the head's output (Michel, Levy and
Neubig, 2019, "Are Sixteen Heads Really Better than One?"), normalised per layer. Heads are then removed least
important first while the primary metric on validation stays within a tolerance (loss-aware pruning), and the
chosen heads are cut out of the weights: the query / key / value rows and the output projection's columns.

Transformers 5 no longer prunes heads itself, so the record of removed heads lives in the model config as
`pruned_attention_heads` and `load_pruned` rebuilds that shape before it loads the weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedTokenizerBase
from transformers.pytorch_utils import prune_linear_layer

from toolkit.errors import ConfigError
from toolkit.transformer_models import encoder_layers, register_folder_loader

PRUNED_KEY = "pruned_attention_heads"  # config.json: {"layer index": [original head indices removed]}


@dataclass
class Attention:
    """One layer's self-attention, in the BERT layout (`attention.self.{query,key,value}`, `attention.output.dense`)."""

    layer: int
    module: torch.nn.Module
    output: torch.nn.Module  # holds `dense`, the projection back to the hidden size
    head_size: int

    @property
    def heads(self) -> int:
        return self.module.query.out_features // self.head_size


def attention_layers(model: torch.nn.Module) -> list[Attention]:
    """Every layer's self-attention, or a clear error for an architecture this pruner does not know."""
    _, layers = encoder_layers(model)
    config = model.config
    head_size = config.hidden_size // config.num_attention_heads
    found = []
    for index, layer in enumerate(layers):
        attention = getattr(layer, "attention", None)
        module, output = getattr(attention, "self", None), getattr(attention, "output", None)
        if module is None or output is None or not all(hasattr(module, n) for n in ("query", "key", "value")):
            raise ConfigError(
                f"compress.prune: a {config.model_type!r} model has no BERT-style self-attention "
                "(attention.self.query / key / value); set compress.prune.enabled=false for it"
            )
        found.append(Attention(index, module, output, head_size))
    return found


@contextmanager
def head_gates(model: torch.nn.Module, gates: Sequence[torch.Tensor]) -> Iterator[None]:
    """Scale each head's output by its gate (one tensor of shape (heads,) per layer) while the block runs."""
    handles = []
    for attention, gate in zip(attention_layers(model), gates, strict=True):

        def scale(_module, inputs, gate=gate, size=attention.head_size):
            hidden = inputs[0]
            shaped = hidden.view(*hidden.shape[:-1], -1, size) * gate.to(hidden.device, hidden.dtype)[:, None]
            return (shaped.view(hidden.shape), *inputs[1:])

        handles.append(attention.output.dense.register_forward_pre_hook(scale))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def head_importance(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[int],
    max_length: int,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """Per layer, each head's gradient importance on (texts, labels), normalised to unit L2 norm in its layer."""
    model.eval()  # dropout off; gradients still flow to the gates
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)  # only the gates need gradients
    device = next(model.parameters()).device
    gates = [torch.ones(a.heads, requires_grad=True, device=device) for a in attention_layers(model)]
    totals = [torch.zeros(a.heads, device=device) for a in attention_layers(model)]
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)
    try:
        with head_gates(model, gates):
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(
                    list(texts[start : start + batch_size]),
                    truncation=True,
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(device)
                loss = torch.nn.functional.cross_entropy(model(**batch).logits, y[start : start + batch_size])
                grads = torch.autograd.grad(loss, gates)
                for total, grad in zip(totals, grads, strict=True):
                    total += grad.abs()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return [(t / t.norm().clamp_min(1e-12)).cpu().numpy() for t in totals]


@dataclass(frozen=True)
class PruneChoice:
    heads: dict[int, list[int]]  # layer -> heads to remove
    removed: int
    total: int
    baseline: float  # the primary metric on validation before pruning
    value: float  # ... with the chosen heads removed
    history: list[dict]  # every try: heads removed, metric, kept or not


def choose_heads(
    model: torch.nn.Module,
    importance: list[np.ndarray],
    score: Callable[[], float],
    budget: float,
    step: float,
    tolerance: float,
) -> PruneChoice:
    """Remove the least important heads in steps of `step` × all heads, up to `budget` × all heads, while
    `score()` (the primary metric on validation, computed with the current gates) stays within `tolerance` of the
    unpruned value. Every layer keeps at least one head."""
    sizes = [len(layer) for layer in importance]
    total = sum(sizes)
    ranked = sorted((float(v), layer, head) for layer, values in enumerate(importance) for head, v in enumerate(values))
    order, left = [], list(sizes)
    for _, layer, head in ranked:
        if left[layer] > 1:
            order.append((layer, head))
            left[layer] -= 1
    gates = [torch.ones(n) for n in sizes]
    with head_gates(model, gates):
        baseline = score()
        history = [{"removed": 0, "value": baseline, "kept": True}]
        chosen, value = 0, baseline
        per_step = max(1, round(step * total))
        for count in range(per_step, min(int(budget * total), len(order)) + 1, per_step):
            for layer, head in order[:count]:
                gates[layer][head] = 0.0
            trial = score()
            within = trial >= baseline - tolerance
            history.append({"removed": count, "value": trial, "kept": within})
            if not within:
                break
            chosen, value = count, trial
    heads: dict[int, list[int]] = {}
    for layer, head in order[:chosen]:
        heads.setdefault(layer, []).append(head)
    return PruneChoice({k: sorted(v) for k, v in sorted(heads.items())}, chosen, total, baseline, value, history)


def prune_heads(model: torch.nn.Module, heads: dict[int, list[int]]) -> torch.nn.Module:
    """Cut `heads` (layer -> original head indices) out of the weights and record them in the config."""
    layers = attention_layers(model)
    record = {int(k): list(v) for k, v in (getattr(model.config, PRUNED_KEY, None) or {}).items()}
    for layer, remove in heads.items():
        if not remove:
            continue
        attention = layers[layer]
        original = [h for h in range(attention.heads + len(record.get(layer, []))) if h not in record.get(layer, [])]
        keep = [position for position, h in enumerate(original) if h not in remove]
        if not keep:
            raise ConfigError(f"compress.prune: layer {layer} would lose every head; keep at least one")
        size = attention.head_size
        index = torch.cat([torch.arange(k * size, (k + 1) * size) for k in keep])
        module = attention.module
        module.query = prune_linear_layer(module.query, index, dim=0)
        module.key = prune_linear_layer(module.key, index, dim=0)
        module.value = prune_linear_layer(module.value, index, dim=0)
        attention.output.dense = prune_linear_layer(attention.output.dense, index, dim=1)
        module.num_attention_heads = len(keep)
        module.all_head_size = len(keep) * size
        record[layer] = sorted({*record.get(layer, []), *remove})
    setattr(model.config, PRUNED_KEY, {str(k): v for k, v in sorted(record.items())})
    return model


def pruned_heads(folder: Path) -> dict[int, list[int]] | None:
    """The heads removed from the model saved in `folder`, or None when it was never pruned."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    record = json.loads(config.read_text(encoding="utf-8")).get(PRUNED_KEY)
    return {int(k): v for k, v in record.items()} if record else None


def pruned_architecture(folder: Path) -> torch.nn.Module:
    """The classifier saved in `folder`, untrained, in the shape its config records (pruned heads cut)."""
    config = AutoConfig.from_pretrained(folder)
    record = {int(k): v for k, v in (getattr(config, PRUNED_KEY, None) or {}).items()}
    setattr(config, PRUNED_KEY, None)
    model = AutoModelForSequenceClassification.from_config(config)
    return prune_heads(model, record) if record else model


def load_pruned(folder: Path) -> torch.nn.Module:
    """A pruned classifier saved with `save_pretrained`: the recorded shape first, then the weights (the library's
    loader would refuse the smaller matrices)."""
    model = pruned_architecture(Path(folder))
    model.load_state_dict(load_file(Path(folder) / "model.safetensors"))
    return model.eval()


@register_folder_loader
def load_if_pruned(folder: Path) -> torch.nn.Module | None:
    """The pruned model saved in `folder`, or None when it was never pruned (then `from_pretrained` loads it)."""
    return load_pruned(folder) if pruned_heads(folder) else None
