"""A local causal-LM teacher, prompted zero- or few-shot with the pack's label descriptions.

Probabilities come from the log-likelihood of each label's verbalizer after the prompt (no sampling): for each
text, the C continuations are scored in one batch and a softmax over their summed log-probabilities gives the
label distribution.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError
from toolkit.packs import Pack
from toolkit.safe_io import atomic_write_text
from toolkit.teachers.base import BaseTeacher, register_teacher, stable_hash
from toolkit.transformer_models import load_tokenizer, resolve_model

DEFAULT_INSTRUCTION = "Classify the case into one of the labels below. Answer with the label only."
MAX_TEXT_CHARS = 1500


def build_prompt(
    instruction: str, labels: Sequence[str], descriptions: Sequence[str], examples: Sequence[tuple[str, str]], text: str
) -> str:
    """The prompt every LLM teacher sends: instruction, labels with descriptions, optional examples, the case."""
    lines = [instruction, "", "Labels:"]
    lines += [
        f"- {label}: {description}" if description else f"- {label}"
        for label, description in zip(labels, descriptions, strict=True)
    ]
    for example_text, example_label in examples:
        lines += ["", f"Case: {example_text[:MAX_TEXT_CHARS]}", f"Label: {example_label}"]
    lines += ["", f"Case: {text[:MAX_TEXT_CHARS]}", "Label:"]
    return "\n".join(lines)


def with_label_descriptions(options: dict[str, Any], pack: Pack | None) -> dict[str, Any]:
    """`options` with the pack's label descriptions for the prompt, unless the entry gives its own."""
    if pack is None:
        return options
    return {"label_descriptions": [label.description for label in pack.config.labels], **options}


@register_teacher("llm")
class LLMTeacher(BaseTeacher):
    """Any `AutoModelForCausalLM` (hub id or local folder); `shots` examples per label from the training split."""

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        model: str | None = None,
        label_descriptions: Sequence[str] | None = None,
        verbalizers: Sequence[str] | None = None,
        shots: int = 0,
        batch_size: int = 4,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> None:
        if model is None:
            raise ConfigError(f"teachers.{name}.options.model: an llm teacher needs a causal LM (hub id or folder)")
        super().__init__(name, label_names, seed, max_length)
        self.verbalizers = list(verbalizers or [name.replace("_", " ") for name in label_names])
        if len(self.verbalizers) != len(label_names):
            raise ConfigError(
                f"teachers.{name}.options.verbalizers: {len(self.verbalizers)} given for "
                f"{len(label_names)} labels {label_names}"
            )
        self.descriptions = list(label_descriptions or [""] * len(label_names))
        self.options = {
            "model": model,
            "shots": shots,
            "instruction": instruction,
            "verbalizers": self.verbalizers,
            "descriptions": self.descriptions,
            "seed": seed,
        }
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(model)
        self.model = AutoModelForCausalLM.from_pretrained(resolve_model(model))
        self.model.eval()
        self.examples: list[tuple[str, str]] = []

    @classmethod
    def pack_options(
        cls, options: dict[str, Any], spec: TeacherSpec, pack: Pack | None, fields: Sequence[FieldSpec] | None
    ) -> dict[str, Any]:
        return with_label_descriptions(options, pack)

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Pick the few-shot examples (seeded); the model itself is not trained."""
        if not self.options["shots"]:
            return
        rng = np.random.default_rng(self.options["seed"])
        labels = np.asarray(train.labels)
        chosen = []
        for k in range(len(self.label_names)):
            indices = np.flatnonzero(labels == k)
            chosen += [
                int(i) for i in rng.choice(indices, size=min(self.options["shots"], len(indices)), replace=False)
            ]
        rng.shuffle(chosen)
        self.examples = [(train.texts[i], self.verbalizers[labels[i]]) for i in chosen]

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        label_ids = [self._ids(" " + v) for v in self.verbalizers]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        out = np.zeros((len(texts), len(self.label_names)))
        for start in range(0, len(texts), self.batch_size):
            sequences, spans = [], []
            for text in texts[start : start + self.batch_size]:
                prompt = self._ids(
                    build_prompt(self.options["instruction"], self.verbalizers, self.descriptions, self.examples, text)
                )
                for ids in label_ids:
                    sequences.append(prompt + ids)
                    spans.append((len(prompt), len(prompt) + len(ids)))
            longest = max(len(s) for s in sequences)
            input_ids = torch.tensor([s + [pad or 0] * (longest - len(s)) for s in sequences])
            mask = torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in sequences])
            logprobs = torch.log_softmax(self.model(input_ids=input_ids, attention_mask=mask).logits.float(), dim=-1)
            scores = []
            for row, (begin, end) in enumerate(spans):
                # the token at position t is predicted by the logits at t - 1
                targets = input_ids[row, begin:end]
                scores.append(float(logprobs[row, begin - 1 : end - 1].gather(1, targets[:, None]).sum()))
            block = np.asarray(scores).reshape(-1, len(self.label_names))
            block = np.exp(block - block.max(axis=1, keepdims=True))
            out[start : start + len(block)] = block / block.sum(axis=1, keepdims=True)
        return out

    def fingerprint(self) -> str:
        return stable_hash({"kind": "llm", "options": self.options, "examples": self.examples})

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "teacher.json", json.dumps({"examples": self.examples}))

    def load(self, folder: Path) -> None:
        self.examples = [tuple(e) for e in json.loads((folder / "teacher.json").read_text())["examples"]]
