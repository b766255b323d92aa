"""A rule teacher: the pack's `rules` hook scores each rendered input per label; a softmax turns points into
probabilities, with one temperature fitted on the training split by log-loss so the rules are calibrated."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from toolkit.distill.fit import Split
from toolkit.errors import ConfigError

SCALES = np.geomspace(0.1, 10.0, 41)


class RuleTeacher:
    """Domain rules as a teacher; usable alone or inside the ensemble."""

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        score: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        if score is None:
            raise ConfigError(
                f"teachers.{name}: a rules teacher needs the pack's `rules` hook (hooks.rules in pack.yaml)"
            )
        self.name = name
        self.label_names = label_names
        self.score = score
        self.scale = 1.0
        self._source_hash = hashlib.sha256(Path(inspect.getfile(score)).read_bytes()).hexdigest()[:16]

    def _points(self, texts: Sequence[str]) -> np.ndarray:
        points = np.asarray(self.score(list(texts)), dtype=float)
        if points.shape != (len(texts), len(self.label_names)):
            raise ConfigError(
                f"rules hook returned shape {points.shape}; expected ({len(texts)}, "
                f"{len(self.label_names)}) for labels {self.label_names}"
            )
        return points

    @staticmethod
    def _softmax(points: np.ndarray, scale: float) -> np.ndarray:
        z = points * scale
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        points = self._points(train.texts)
        labels = list(range(len(self.label_names)))
        losses = [log_loss(train.labels, self._softmax(points, s), labels=labels) for s in SCALES]
        self.scale = float(SCALES[int(np.argmin(losses))])

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        return self._softmax(self._points(texts), self.scale)

    def fingerprint(self) -> str:
        payload = json.dumps({"kind": "rules", "source": self._source_hash, "scale": self.scale}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rules.json").write_text(json.dumps({"scale": self.scale, "source_hash": self._source_hash}))

    def load(self, folder: Path) -> None:
        self.scale = float(json.loads((folder / "rules.json").read_text())["scale"])
