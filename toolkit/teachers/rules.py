"""A rule teacher: the pack's `rules` hook scores each rendered input per label, and a multinomial logistic
regression fitted on the training split turns those points into calibrated probabilities (a scale and a bias per
label, so rules written for one population still rank cases sensibly on another)."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError
from toolkit.packs import Pack
from toolkit.teachers.base import BaseTeacher, register_teacher


@register_teacher("rules")
class RuleTeacher(BaseTeacher):
    """Domain rules as a teacher; usable alone or inside the ensemble."""

    cheap = True

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
        super().__init__(name, label_names, seed, max_length)
        self.score = score
        self.calibration: dict | None = None
        self._source_hash = hashlib.sha256(Path(inspect.getfile(score)).read_bytes()).hexdigest()[:16]

    @classmethod
    def pack_options(
        cls, options: dict[str, Any], spec: TeacherSpec, pack: Pack | None, fields: Sequence[FieldSpec] | None
    ) -> dict[str, Any]:
        """The pack's `rules` hook is the score; a pack without one cannot have a rules teacher."""
        if pack is None or not pack.has_hook("rules"):
            raise ConfigError(f"teachers.{spec.name}: kind `rules` needs a pack with a `rules` hook in pack.yaml")
        return {**options, "score": pack.hook("rules")}

    def _points(self, texts: Sequence[str]) -> np.ndarray:
        points = np.asarray(self.score(list(texts)), dtype=float)
        if points.shape != (len(texts), len(self.label_names)):
            raise ConfigError(
                f"rules hook returned shape {points.shape}; expected ({len(texts)}, "
                f"{len(self.label_names)}) for labels {self.label_names}"
            )
        return points

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        calibration = LogisticRegression(C=1.0, max_iter=2000)
        calibration.fit(self._points(train.texts), np.asarray(train.labels))
        self.calibration = {
            "classes": calibration.classes_.tolist(),
            "coef": calibration.coef_.tolist(),
            "intercept": calibration.intercept_.tolist(),
        }

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        points = self._points(texts)
        c = self.calibration
        if c is None:  # not fitted: the points themselves, softmaxed
            z, classes = points, list(range(len(self.label_names)))
        else:
            coef = np.asarray(c["coef"])
            z = points @ coef.T + np.asarray(c["intercept"])
            if coef.shape[0] == 1:  # two classes seen: scikit-learn keeps one row of weights
                z = np.hstack([-z, z])
            classes = c["classes"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs = np.zeros((len(texts), len(self.label_names)))
        probs[:, classes] = e / e.sum(axis=1, keepdims=True)  # labels never seen in training keep probability 0
        return probs

    def fingerprint(self) -> str:
        payload = json.dumps(
            {"kind": "rules", "source": self._source_hash, "calibration": self.calibration}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rules.json").write_text(
            json.dumps({"calibration": self.calibration, "source_hash": self._source_hash})
        )

    def load(self, folder: Path) -> None:
        self.calibration = json.loads((folder / "rules.json").read_text())["calibration"]
