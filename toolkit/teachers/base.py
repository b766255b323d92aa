"""The Teacher protocol and the factory that builds a teacher from its config entry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from toolkit.config import TeacherSpec
from toolkit.distill.fit import Split
from toolkit.errors import ConfigError
from toolkit.packs import Pack


@runtime_checkable
class Teacher(Protocol):
    """Anything that turns texts into class probabilities in the pack's label order."""

    name: str

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Learn from the training split, keeping checkpoints under `work_dir` (no-op for trained teachers)."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of shape (n, C), rows summing to 1."""

    def fingerprint(self) -> str:
        """Changes whenever the teacher's outputs could change."""

    def save(self, folder: Path) -> None:
        """Write what is needed to use the teacher again."""


def build_teacher(
    spec: TeacherSpec, label_names: Sequence[str], seed: int, max_length: int, pack: Pack | None = None
) -> Teacher:
    """A teacher from its config entry, e.g. `{name: tfidf_lr, kind: sklearn}`; rule teachers use `pack`'s hook."""
    from toolkit.teachers.hf import HFTeacher
    from toolkit.teachers.rules import RuleTeacher
    from toolkit.teachers.sklearn import SklearnTextTeacher

    kinds = {"sklearn": SklearnTextTeacher, "hf": HFTeacher, "rules": RuleTeacher}
    options = dict(spec.options)
    if spec.kind == "rules":
        if pack is None or not pack.has_hook("rules"):
            raise ConfigError(f"teachers.{spec.name}: kind `rules` needs a pack with a `rules` hook in pack.yaml")
        options["score"] = pack.hook("rules")
    try:
        return kinds[spec.kind](
            name=spec.name, label_names=list(label_names), seed=seed, max_length=max_length, **options
        )
    except TypeError as error:
        raise ConfigError(f"teachers.{spec.name}.options: {error}".replace("__init__() ", "")) from None
