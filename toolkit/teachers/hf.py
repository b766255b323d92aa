"""A transformer teacher: any `AutoModelForSequenceClassification`, fine-tuned on the training split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from toolkit.distill.fit import FitSettings, Split, fit_classifier, remove_checkpoints
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_proba


class HFTeacher:
    """Fine-tunes `model` (alias, folder or hub id) with cross-entropy, all weights trainable."""

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        model: str = "minilm",
        epochs: float = 4.0,
        learning_rate: float = 5e-5,
        batch_size: int = 16,
    ) -> None:
        self.name = name
        self.label_names = label_names
        self.options = {
            "model": model,
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "max_length": max_length,
            "seed": seed,
        }
        self.tokenizer = load_tokenizer(model)
        self.model = load_classifier(model, label_names)
        self.history: list[dict] = []
        self._data_hash = ""

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        o = self.options
        settings = FitSettings(
            epochs=o["epochs"],
            learning_rate=o["learning_rate"],
            batch_size=o["batch_size"],
            max_length=o["max_length"],
            seed=o["seed"],
        )
        self.history = fit_classifier(self.model, self.tokenizer, train, validation, settings, work_dir / "training")
        self._data_hash = hashlib.sha256("\n".join(train.texts).encode()).hexdigest()[:16]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return predict_proba(self.model, self.tokenizer, texts, self.options["max_length"])

    def fingerprint(self) -> str:
        payload = json.dumps({"kind": "hf", "options": self.options, "data": self._data_hash}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder / "model")
        self.tokenizer.save_pretrained(folder / "model")
        remove_checkpoints(folder / "training")
