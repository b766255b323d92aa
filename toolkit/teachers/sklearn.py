"""scikit-learn teachers: TF-IDF + logistic regression on the rendered text, and gradient boosting on the
structured fields (the signal text models lose, e.g. on tabular credit data).

Saved with skops, never pickle: loading a run folder someone else made must not run code, so a saved model may hold
only the scikit-learn types listed in `TRUSTED_TYPES` (anything else is refused with the type's name).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as skops_io
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.scores import macro_f1
from toolkit.data.splits import Split
from toolkit.errors import ConfigError, UserInputError
from toolkit.packs import Pack
from toolkit.safe_io import atomic_path, atomic_write_text
from toolkit.teachers.base import BaseTeacher, data_hash, register_teacher, stable_hash

MODEL_FILE = "model.skops"
PICKLE_FILE = "model.joblib"  # what earlier versions wrote; refused, never loaded
# Types beyond skops' built-in scikit-learn defaults that our pipelines hold; nothing here can run code on load.
TRUSTED_TYPES = (
    "functools.partial",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
)
LINEAR_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # the linear tabular model's C, chosen on validation


class _SklearnTeacher(BaseTeacher, ABC):
    """Shared fit / save / load for teachers that wrap one scikit-learn pipeline."""

    cheap = shippable = True
    options: dict
    pipeline: Pipeline

    @abstractmethod
    def _features(self, texts: Sequence[str], rows: pd.DataFrame | None):
        """What the pipeline reads: the texts, or the structured fields of the rows."""

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        self.pipeline.fit(self._features(train.texts, train.rows), np.asarray(train.labels))
        self._data = data_hash(train)

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        probs = np.zeros((len(texts), len(self.label_names)))
        # columns follow the classes seen in training, which may miss a label: place them by index.
        probs[:, self.pipeline.classes_] = self.pipeline.predict_proba(self._features(texts, rows))
        return probs

    def fingerprint(self) -> str:
        return stable_hash({"kind": type(self).__name__, "options": self.options, "data": self._data})

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / MODEL_FILE) as temporary:
            skops_io.dump(self.pipeline, temporary)
        atomic_write_text(
            folder / "teacher.json", json.dumps({"data": self._data, "options": self.options}, default=str)
        )

    def load(self, folder: Path) -> None:
        self.pipeline = load_pipeline(folder)
        saved = json.loads((folder / "teacher.json").read_text())
        self._data, self.options = saved["data"], saved["options"]


def load_pipeline(folder: Path) -> Pipeline:
    """The fitted pipeline in `folder`, refusing pickles and any type outside the allow-list.

    >>> load_pipeline(Path("runs/finance_risk/teachers/tfidf_lr"))  # doctest: +SKIP
    """
    path = folder / MODEL_FILE
    if not path.is_file():
        if (folder / PICKLE_FILE).is_file():
            raise UserInputError(
                f"{folder / PICKLE_FILE}: a pickle, which can run code when loaded; it is not loaded",
                hint="re-run the run's teachers stage (`domain-distill run ... --force`) to refit it in the safe "
                "skops format",
            )
        raise UserInputError(f"{path}: missing; the teacher was not saved here")
    try:
        untrusted = sorted(set(skops_io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as error:  # a damaged or foreign file: skops raises many kinds
        raise UserInputError(f"{path}: not a model saved by this toolkit ({type(error).__name__}: {error})") from None
    if untrusted:
        raise UserInputError(
            f"{path}: holds types this toolkit never saves, which could run code: {', '.join(untrusted)}",
            hint="use only run folders this toolkit wrote; refit the teacher to replace the file",
        )
    return skops_io.load(path, trusted=list(TRUSTED_TYPES))


@register_teacher("sklearn")
class SklearnTextTeacher(_SklearnTeacher):
    """TF-IDF word (and optionally character) n-grams + logistic regression on the rendered text."""

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
        super().__init__(name, label_names, seed, max_length)
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
        self._data = ""

    def _features(self, texts: Sequence[str], rows: pd.DataFrame | None) -> list[str]:
        return list(texts)


@register_teacher("tabular")
class TabularTeacher(_SklearnTeacher):
    """Gradient boosting on the pack's structured fields (numbers as they are, categories encoded); missing values
    are handled natively. Needs the rows, not only the text."""

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        fields: Sequence[FieldSpec] = (),
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        class_weight: str | None = "balanced",
        model: str = "gbm",  # or "linear": one-hot categories + scaled numbers into logistic regression
        C: float | None = None,  # noqa: N803 - the linear model's inverse regularisation; None: chosen on validation
    ) -> None:
        if model not in ("gbm", "linear"):
            raise ConfigError(f"teachers.{name}.options.model: {model!r} is not allowed; allowed: gbm, linear")
        if not fields:
            raise ConfigError(f"teachers.{name}: a tabular teacher needs the pack's structured fields (columns.fields)")
        super().__init__(name, label_names, seed, max_length)
        self.fields = list(fields)
        self.options = {
            "fields": [f.name for f in self.fields],
            "max_iter": max_iter,
            "learning_rate": learning_rate,
            "max_leaf_nodes": max_leaf_nodes,
            "class_weight": class_weight,
            "model": model,
            "C": C,
        }
        self.pipeline = self._pipeline(self.fields)
        self._data = ""

    @classmethod
    def pack_options(
        cls, options: dict[str, Any], spec: TeacherSpec, pack: Pack | None, fields: Sequence[FieldSpec] | None
    ) -> dict[str, Any]:
        """The run's fields (which `*=fields` may have added to), else the pack's, unless the entry lists its own."""
        if fields is None and pack is None:
            return options
        return {"fields": list(fields) if fields is not None else pack.config.columns.fields, **options}

    def _pipeline(self, fields: list[FieldSpec]) -> Pipeline:
        categories = [f.name for f in fields if f.type == "category"]
        numbers = [f.name for f in fields if f.type != "category"]
        o = self.options
        if o["model"] == "linear":
            encode = ColumnTransformer(
                [
                    ("categories", OneHotEncoder(handle_unknown="ignore"), categories),
                    ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
                ]
            )
            linear = LogisticRegression(
                C=o["C"] or o.get("C_chosen", 1.0), class_weight=o["class_weight"], max_iter=3000
            )
            return Pipeline([("encode", encode), ("linear", linear)])
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        encode = ColumnTransformer([("categories", encoder, categories), ("numbers", "passthrough", numbers)])
        gbm = HistGradientBoostingClassifier(
            max_iter=o["max_iter"],
            learning_rate=o["learning_rate"],
            max_leaf_nodes=o["max_leaf_nodes"],
            class_weight=o["class_weight"],
            categorical_features=list(range(len(categories))) or None,
            random_state=self.seed,
            early_stopping=False,
        )
        return Pipeline([("encode", encode), ("gbm", gbm)])

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Fields absent from the training data (e.g. vitals a data set never records) are left out; with none
        left, the teacher predicts the training class shares, and the fitted ensemble weights discount it."""
        frame = self._features(train.texts, train.rows)
        present = [f for f in self.fields if frame[f.name].notna().any()]
        if not present:
            self.pipeline = Pipeline([("prior", DummyClassifier(strategy="prior"))])
        elif len(present) < len(self.fields):
            self.pipeline = self._pipeline(present)
        self.options["fields_used"] = [f.name for f in present]
        if present and self.options["model"] == "linear" and self.options["C"] is None:
            self.options["C_chosen"] = self._choose_c(present, train, validation)
        super().fit(train, validation, work_dir)

    def _choose_c(self, fields: list[FieldSpec], train: Split, validation: Split) -> float:
        """The linear model's regularisation, chosen on validation macro F1 (as a practitioner would tune it)."""
        scores = {}
        for c in LINEAR_C_GRID:
            self.options["C_chosen"] = c
            model = self._pipeline(fields).fit(self._features(train.texts, train.rows), np.asarray(train.labels))
            predicted = model.predict(self._features(validation.texts, validation.rows))
            scores[c] = macro_f1(validation.labels, predicted)
        best = max(scores, key=lambda c: (scores[c], -abs(np.log10(c))))  # ties: the value nearest 1
        self.options["C_chosen"] = best
        self.pipeline = self._pipeline(fields)
        return best

    def _features(self, texts: Sequence[str], rows: pd.DataFrame | None) -> pd.DataFrame:
        if rows is None:
            raise ConfigError(f"teacher {self.name}: a tabular teacher reads structured fields, and none were given")
        frame = pd.DataFrame(index=range(len(rows)))
        for spec in self.fields:
            values = rows[spec.name] if spec.name in rows.columns else pd.Series([None] * len(rows))
            frame[spec.name] = (
                values.astype(object).where(values.notna(), np.nan)
                if spec.type == "category"
                else pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
            )
        return frame
