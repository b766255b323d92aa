"""Run any exported variant the same way: texts in, logits out, on the CPU.

A variant folder holds a Hugging Face model (`config.json` + weights; pruned heads are recorded in the config), the
PyTorch INT8 weights (`model_int8.pt`), or an ONNX graph (`model.onnx`), with the tokenizer beside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from toolkit.compress.quantize import INT8_FILE, ONNX_FILE, ONNX_INPUTS, load_int8
from toolkit.config import FieldSpec, TeacherSpec
from toolkit.errors import ConfigError
from toolkit.registry import TEACHER_KINDS, teacher_trait
from toolkit.teachers.base import Teacher, build_teacher
from toolkit.transformer_models import load_classifier, predict_logits

TEACHER_VARIANT_FILE = "shipped_teacher.json"  # a variant that is a scikit-learn teacher: its spec and fields


class Classifier(Protocol):
    def logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        """Logits of shape (n, C) in input order; `fields` (the rows' structured fields) for tabular models."""

    def quality_logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        """The same logits, computed the fastest way this machine has (the quality figures; latency uses `logits`)."""


class TorchClassifier:
    def __init__(self, model: torch.nn.Module, tokenizer, max_length: int, quantized: bool = False):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.quantized = quantized  # dynamic INT8 kernels exist on the CPU only

    def logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        return predict_logits(self.model, self.tokenizer, list(texts), self.max_length)

    def quality_logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        """The logits `logits` gives on the CPU, computed on the GPU when there is one: fp32 (no bf16), so the
        figures are the deployed model's up to rounding, in a fraction of the CPU's time on large test splits."""
        if self.quantized or not torch.cuda.is_available():
            return self.logits(texts, fields)
        try:
            self.model.to("cuda")
            return predict_logits(self.model, self.tokenizer, list(texts), self.max_length, bf16=False)
        finally:
            self.model.to("cpu")


class OnnxClassifier:
    """An ONNX Runtime session on the CPU, fed like the PyTorch model (dynamic padding, length-sorted batches)."""

    def __init__(self, path: Path, tokenizer, max_length: int, threads: int | None = None, batch_size: int = 64):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initializers are noise to a user
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer, self.max_length, self.batch_size = tokenizer, max_length, batch_size

    def logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        texts = list(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            encoded = self.tokenizer(
                batch, truncation=True, max_length=self.max_length, padding=True, return_tensors="np"
            )
            chunks.append(self.session.run(["logits"], {k: encoded[k].astype(np.int64) for k in ONNX_INPUTS})[0])
        if not chunks:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        logits = np.concatenate(chunks)
        restored = np.empty_like(logits)
        restored[order] = logits
        return restored

    quality_logits = logits  # ONNX Runtime here is the CPU deployment itself


class TeacherClassifier:
    """A shipped scikit-learn baseline (TF-IDF or tabular) that beat every transformer candidate on validation."""

    def __init__(self, teacher: Teacher):
        self.teacher = teacher

    def logits(self, texts: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        return np.log(np.clip(self.teacher.predict_proba(list(texts), fields), 1e-12, 1.0))

    quality_logits = logits


def variant_format(folder: Path) -> str:
    """`onnx`, `torch_int8`, `torch` or `teacher` for a variant folder; a clear error for anything else."""
    folder = Path(folder)
    if (folder / TEACHER_VARIANT_FILE).is_file():
        return "teacher"
    if (folder / ONNX_FILE).is_file():
        return "onnx"
    if (folder / INT8_FILE).is_file():
        return "torch_int8"
    if (folder / "config.json").is_file():
        return "torch"
    raise ConfigError(f"{folder}: no model here (expected {ONNX_FILE}, {INT8_FILE} or a Hugging Face model folder)")


def load_variant(folder: Path, label_names: Sequence[str], max_length: int, threads: int | None = None) -> Classifier:
    """The classifier saved in `folder`, whatever its format."""
    folder = Path(folder)
    kind = variant_format(folder)
    if kind == "teacher":
        stored = json.loads((folder / TEACHER_VARIANT_FILE).read_text(encoding="utf-8"))
        fields = [FieldSpec.model_validate(f) for f in stored["fields"]]
        spec = TeacherSpec.model_validate(stored["teacher"])
        if not teacher_trait(spec.kind, "shippable"):
            shippable = [kind for kind in TEACHER_KINDS.names() if teacher_trait(kind, "shippable")]
            raise ConfigError(f"{folder}: a {spec.kind} teacher is not shipped; shippable kinds: {shippable}")
        teacher = build_teacher(spec, list(label_names), 0, max_length, fields=fields)
        teacher.load(folder)
        return TeacherClassifier(teacher)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if kind == "onnx":
        return OnnxClassifier(folder / ONNX_FILE, tokenizer, max_length, threads)
    if kind == "torch_int8":
        return TorchClassifier(load_int8(folder), tokenizer, max_length, quantized=True)
    return TorchClassifier(load_classifier(str(folder), label_names), tokenizer, max_length)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def folder_size(folder: Path) -> int:
    """Bytes on disk of everything a deployment copies: the model and its tokenizer."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and p.name != "probs.npz")
