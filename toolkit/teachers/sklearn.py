"""A scikit-learn teacher over the rendered text: TF-IDF word and character n-grams + logistic regression.

Saved with joblib. Trust note: a joblib / pickle file runs code when loaded; load only files you produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from toolkit.distill.fit import Split


class SklearnTextTeacher:
    """TF-IDF + logistic regression; `C` and n-gram ranges are options in the pack config."""

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        C: float = 4.0,  # noqa: N803 - scikit-learn's name for it
        word_ngrams: int = 2,
        char_ngrams: int = 0,
        class_weight: str | None = "balanced",
    ) -> None:
        self.name = name
        self.label_names = label_names
        self.options = {"C": C, "word_ngrams": word_ngrams, "char_ngrams": char_ngrams, "class_weight": class_weight}
        features = [("words", TfidfVectorizer(ngram_range=(1, word_ngrams), sublinear_tf=True, min_df=1))]
        if char_ngrams:
            features.append(
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, char_ngrams), sublinear_tf=True))
            )
        self.pipeline = Pipeline(
            [
                ("tfidf", FeatureUnion(features)),
                ("lr", LogisticRegression(C=C, max_iter=4000, class_weight=class_weight, random_state=seed)),
            ]
        )
        self._data_hash = ""

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        self.pipeline.fit(list(train.texts), np.asarray(train.labels))
        self._data_hash = hashlib.sha256("\n".join(train.texts).encode()).hexdigest()[:16]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.zeros((len(texts), len(self.label_names)))
        # columns follow the classes seen in training, which may miss a label: place them by index.
        probs[:, self.pipeline.classes_] = self.pipeline.predict_proba(list(texts))
        return probs

    def fingerprint(self) -> str:
        payload = json.dumps({"kind": "sklearn", "options": self.options, "data": self._data_hash}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, folder / "model.joblib")
