"""The reward model: a one-output sequence classifier over `prompt || text`, trained on preference pairs.

Its raw scores are standardised on the training texts with their gold labels (mean 0, standard deviation 1), so
that a reward of 0 means "as good as a typical real example of this label" and it adds sensibly to the ensemble's
confidence (0 to 1) in the generator's reward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from toolkit.filtering.pairs import PreferencePair, reward_input
from toolkit.filtering.trl_backend import TrainingSettings, train_reward_model
from toolkit.transformer_models import load_classifier, load_tokenizer, on_best_device, predict_logits


class RewardModel:
    """Scores (label prompt, text) pairs; higher is a better example of that label."""

    def __init__(self, model, tokenizer: PreTrainedTokenizerBase, max_length: int, centre: float = 0.0, scale=1.0):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.centre = centre
        self.scale = scale

    @classmethod
    def build(cls, reference: str, max_length: int) -> RewardModel:
        tokenizer = load_tokenizer(reference)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = on_best_device(load_classifier(reference, ["reward"]))
        model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model, tokenizer, max_length)

    def _ids(self, prompts: Sequence[str], texts: Sequence[str]) -> list[list[int]]:
        inputs = [reward_input(p, t) for p, t in zip(prompts, texts, strict=True)]
        return self.tokenizer(inputs, truncation=True, max_length=self.max_length)["input_ids"]

    def fit(self, pairs: Sequence[PreferencePair], prompts: dict[str, str], settings: TrainingSettings, work_dir: Path):
        """Train with TRL's RewardTrainer; returns the training log."""
        label_prompts = [prompts[p.label] for p in pairs]
        chosen = self._ids(label_prompts, [p.chosen for p in pairs])
        rejected = self._ids(label_prompts, [p.rejected for p in pairs])
        return train_reward_model(self.model, self.tokenizer, chosen, rejected, settings, work_dir)

    def raw_scores(self, prompts: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        inputs = [reward_input(p, t) for p, t in zip(prompts, texts, strict=True)]
        logits = predict_logits(self.model, self.tokenizer, inputs, self.max_length)
        return logits[:, 0].astype(float)

    def standardise_on(self, prompts: Sequence[str], texts: Sequence[str]) -> None:
        raw = self.raw_scores(prompts, texts)
        self.centre, self.scale = float(raw.mean()), float(raw.std() or 1.0)

    def score(self, prompts: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Standardised rewards, one per (prompt, text)."""
        return (self.raw_scores(prompts, texts) - self.centre) / self.scale

    def pairwise_accuracy(self, pairs: Sequence[PreferencePair], prompts: dict[str, str]) -> float | None:
        """Share of pairs whose chosen text scores above the rejected one (None without pairs)."""
        if not pairs:
            return None
        label_prompts = [prompts[p.label] for p in pairs]
        chosen = self.raw_scores(label_prompts, [p.chosen for p in pairs])
        rejected = self.raw_scores(label_prompts, [p.rejected for p in pairs])
        return float(np.mean(chosen > rejected))

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / "standardisation.json").write_text(
            json.dumps({"centre": self.centre, "scale": self.scale, "max_length": self.max_length})
        )

    @classmethod
    def load(cls, folder: Path) -> RewardModel:
        stats = json.loads((folder / "standardisation.json").read_text())
        tokenizer = load_tokenizer(str(folder))
        model = on_best_device(load_classifier(str(folder), ["reward"]))
        return cls(model, tokenizer, stats["max_length"], stats["centre"], stats["scale"])
