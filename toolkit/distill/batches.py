"""Tokenized examples and the collator that pads them per batch (dynamic padding)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

_ENCODINGS: OrderedDict[tuple, dict] = OrderedDict()  # the last few tokenizations of this process
_KEPT_ENCODINGS = 8


def encode_once(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> dict:
    """The tokenizer's ids for `texts`, computed once per process: every candidate of recipe selection and every
    phase trains and validates on the same splits.

    >>> encode_once(tokenizer, ["chest pain"], 128) is encode_once(tokenizer, ["chest pain"], 128)  # doctest: +SKIP
    True
    """
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()
    key = (tokenizer.name_or_path, len(tokenizer), tokenizer.padding_side, max_length, len(texts), digest)
    if key not in _ENCODINGS:
        _ENCODINGS[key] = dict(tokenizer(list(texts), truncation=True, max_length=max_length))
        while len(_ENCODINGS) > _KEPT_ENCODINGS:
            _ENCODINGS.popitem(last=False)
    _ENCODINGS.move_to_end(key)
    return _ENCODINGS[key]


class EncodedExamples(torch.utils.data.Dataset):
    """Texts tokenized once, with gold labels and, for distillation, the teachers' probabilities."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        texts: Sequence[str],
        labels: Sequence[int],
        max_length: int,
        teacher_probs: np.ndarray | None = None,
    ) -> None:
        if teacher_probs is not None and len(teacher_probs) != len(texts):
            raise ValueError(f"teacher_probs has {len(teacher_probs)} rows for {len(texts)} texts")
        self.encoded = encode_once(tokenizer, texts, max_length)
        self.labels = [int(x) for x in labels]
        self.teacher_probs = None if teacher_probs is None else np.asarray(teacher_probs, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        item = {key: values[index] for key, values in self.encoded.items()}
        item["labels"] = self.labels[index]
        if self.teacher_probs is not None:
            item["teacher_probs"] = self.teacher_probs[index]
        return item


class PaddingCollator:
    """Pads token fields to the longest sequence in the batch; stacks labels and teacher probabilities."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(item["input_ids"]) for item in items)
        batch: dict[str, torch.Tensor] = {}
        for key in items[0]:
            if key == "labels":
                batch[key] = torch.tensor([item[key] for item in items], dtype=torch.long)
            elif key == "teacher_probs":
                batch[key] = torch.from_numpy(np.stack([item[key] for item in items]))
            else:
                fill = self.pad_id if key == "input_ids" else 0
                batch[key] = torch.tensor([list(item[key]) + [fill] * (longest - len(item[key])) for item in items])
        return batch
