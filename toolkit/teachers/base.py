"""The Teacher protocol and the factory that builds a teacher from its config entry.

A teacher kind is one module of `toolkit/teachers/` with one class; adding a kind touches only this factory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError
from toolkit.packs import Pack


@runtime_checkable
class Teacher(Protocol):
    """Anything that turns inputs into class probabilities in the pack's label order."""

    name: str

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Learn from the training split, keeping checkpoints under `work_dir` (no-op for trained teachers)."""

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        """Probabilities of shape (n, C), rows summing to 1. `rows` carries structured fields, when known."""

    def fingerprint(self) -> str:
        """Changes whenever the teacher's outputs could change (config, weights, training data)."""

    def save(self, folder: Path) -> None:
        """Write what is needed to use the teacher again without refitting."""

    def load(self, folder: Path) -> None:
        """Restore what `save` wrote."""


def stable_hash(payload: Any) -> str:
    """Short hash of a JSON-serialisable payload: the building block of teacher fingerprints."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_hash(split: Split) -> str:
    return stable_hash(["\n".join(split.texts), [int(x) for x in split.labels]])


TEACHER_KINDS = ("sklearn", "tabular", "hf", "llm", "openai", "rules")


def build_teacher(
    spec: TeacherSpec,
    label_names: Sequence[str],
    seed: int,
    max_length: int,
    pack: Pack | None = None,
    fields: Sequence[FieldSpec] | None = None,
) -> Teacher:
    """A teacher from its config entry, e.g. `{name: tfidf_lr, kind: sklearn}`; rule teachers use `pack`'s hook,
    tabular ones read `fields` (default: the pack's; a run passes its own, which `*=fields` may have added to)."""
    from toolkit.teachers.hf import HFTeacher
    from toolkit.teachers.llm import LLMTeacher
    from toolkit.teachers.openai_api import OpenAITeacher
    from toolkit.teachers.rules import RuleTeacher
    from toolkit.teachers.sklearn import SklearnTextTeacher, TabularTeacher

    kinds = {
        "sklearn": SklearnTextTeacher,
        "tabular": TabularTeacher,
        "hf": HFTeacher,
        "llm": LLMTeacher,
        "openai": OpenAITeacher,
        "rules": RuleTeacher,
    }
    options = dict(spec.options)
    if spec.kind == "rules":
        if pack is None or not pack.has_hook("rules"):
            raise ConfigError(f"teachers.{spec.name}: kind `rules` needs a pack with a `rules` hook in pack.yaml")
        options["score"] = pack.hook("rules")
    if spec.kind in ("llm", "openai") and pack is not None:
        options.setdefault("label_descriptions", [label.description for label in pack.config.labels])
    if spec.kind == "tabular" and (fields is not None or pack is not None):
        options.setdefault("fields", list(fields) if fields is not None else pack.config.columns.fields)
    try:
        return kinds[spec.kind](
            name=spec.name, label_names=list(label_names), seed=seed, max_length=max_length, **options
        )
    except TypeError as error:
        raise ConfigError(f"teachers.{spec.name}.options: {error}".replace("__init__() ", "")) from None
