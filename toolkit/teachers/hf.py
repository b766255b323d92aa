"""A transformer teacher: any `AutoModelForSequenceClassification` by hub id or local path.

If the checkpoint is not already a classifier for the pack's labels (its `id2label` differs), it is fine-tuned on
the training split with the HF Trainer and saved in the run directory. It can also return hidden states and
attention maps, for intermediate-layer distillation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from toolkit.config import MAX_TRAINING_SAMPLES
from toolkit.data.splits import Split
from toolkit.distill.fit import FitSettings, capped_epochs, device_batch, fit_classifier, remove_checkpoints
from toolkit.safe_io import atomic_folder, atomic_write_text
from toolkit.teachers.base import BaseTeacher, data_hash, register_teacher, stable_hash
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_proba, resolve_model


@register_teacher("hf")
class HFTeacher(BaseTeacher):
    """`fine_tune`: "auto" (only when the checkpoint does not already predict the pack's labels), "always", "never"."""

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
        fine_tune: Literal["auto", "always", "never"] = "auto",
        gpu_batch_size: int | None = 64,
        max_samples: int | None = MAX_TRAINING_SAMPLES,
    ) -> None:
        super().__init__(name, label_names, seed, max_length)
        self.options = {
            "model": model,
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "max_length": max_length,
            "seed": seed,
            "fine_tune": fine_tune,
            "gpu_batch_size": gpu_batch_size,  # on a GPU, with the learning rate scaled (as the student's)
            "max_samples": max_samples,  # epochs cut on large data (as the student's)
        }
        self.tokenizer = load_tokenizer(model)
        self.model = load_classifier(model, label_names)
        self.history: list[dict] = []
        self._data = "as-loaded"

    def already_trained(self) -> bool:
        """True when the checkpoint's own head already names the pack's labels, in order."""
        config_path = Path(resolve_model(self.options["model"])) / "config.json"
        if not config_path.is_file():
            return False
        id2label = json.loads(config_path.read_text()).get("id2label", {})
        return [id2label.get(str(i)) for i in range(len(self.label_names))] == self.label_names

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        mode = self.options["fine_tune"]
        if mode == "never" or (mode == "auto" and self.already_trained()):
            return
        o = self.options
        batch_size, learning_rate = device_batch(o["batch_size"], o["learning_rate"], o["gpu_batch_size"])
        settings = FitSettings(
            epochs=capped_epochs(o["epochs"], len(train.texts), o["max_samples"]),
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=o["max_length"],
            seed=o["seed"],
        )
        self.history = fit_classifier(self.model, self.tokenizer, train, validation, settings, work_dir / "training")
        self._data = data_hash(train)

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        return predict_proba(self.model, self.tokenizer, texts, self.options["max_length"])

    @torch.inference_mode()
    def features(self, texts: Sequence[str]) -> dict[str, torch.Tensor | tuple[torch.Tensor, ...]]:
        """Logits, hidden states (embeddings + every layer) and attention maps for a batch of texts."""
        self.model.eval()
        if self.model.config._attn_implementation != "eager":
            self.model.set_attn_implementation("eager")  # fused attention kernels do not return the maps
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.options["max_length"], padding=True, return_tensors="pt"
        ).to(self.model.device)
        out = self.model(**encoded, output_hidden_states=True, output_attentions=True)
        return {
            "logits": out.logits,
            "hidden_states": out.hidden_states,
            "attentions": out.attentions,
            "attention_mask": encoded["attention_mask"],
        }

    def fingerprint(self) -> str:
        return stable_hash({"kind": "hf", "options": self.options, "data": self._data})

    def save(self, folder: Path) -> None:
        with atomic_folder(folder / "model") as temporary:
            self.model.save_pretrained(temporary)
            self.tokenizer.save_pretrained(temporary)
        atomic_write_text(folder / "teacher.json", json.dumps({"data": self._data}))
        remove_checkpoints(folder / "training")

    def load(self, folder: Path) -> None:
        self.model = load_classifier(str(folder / "model"), self.label_names)
        self._data = json.loads((folder / "teacher.json").read_text())["data"]
