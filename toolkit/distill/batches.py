"""Tokenized examples and the collator that pads them per batch (dynamic padding)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase


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
        self.encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
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
