"""The Teacher protocol, the base class every kind shares, and the factory that builds a teacher from its config.

A teacher kind is one module with one class, registered under its name; adding a kind touches only its module:

    @register_teacher("keywords")
    class KeywordTeacher(BaseTeacher):
        def __init__(self, name, label_names, seed, max_length, words=()):
            super().__init__(name, label_names, seed, max_length)
            ...

and a pack names it: `teachers: [{name: kw, kind: keywords, options: {words: [...]}}]`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError
from toolkit.packs import Pack
from toolkit.registry import TEACHER_KINDS


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


class BaseTeacher:
    """What every teacher kind shares: the constructor's common arguments, and how the kind reads its pack.

    A kind subclasses it, takes its own options as keyword arguments after these four, and implements the
    `Teacher` protocol (fit, predict_proba, fingerprint, save, load)."""

    kind: ClassVar[str] = ""  # set by @register_teacher
    # Traits a kind declares (the stages ask `teacher_trait(kind, trait)`, never a list of kinds):
    cheap: ClassVar[bool] = False  # fits in seconds: refitted per fold to find label issues; the cascade's cheap tier
    shippable: ClassVar[bool] = False  # plain data, no hook: a baseline in selection, deployed as it is if it wins
    paid: ClassVar[bool] = False  # each call costs money: never timed on hundreds of texts, never served in a cascade

    def __init__(self, name: str, label_names: Sequence[str], seed: int, max_length: int) -> None:
        self.name = name
        self.label_names = list(label_names)
        self.seed = seed
        self.max_length = max_length

    @classmethod
    def pack_options(
        cls, options: dict[str, Any], spec: TeacherSpec, pack: Pack | None, fields: Sequence[FieldSpec] | None
    ) -> dict[str, Any]:
        """The constructor's options: the config entry's `options`, plus what this kind takes from the pack (a
        hook, label descriptions, structured fields). The base kind takes nothing."""
        return options


TeacherClass = TypeVar("TeacherClass", bound=type[BaseTeacher])


def register_teacher(kind: str) -> Callable[[TeacherClass], TeacherClass]:
    """Register a `BaseTeacher` subclass as the teacher kind `kind`, which a pack's `teachers.<n>.kind` may name.

    >>> @register_teacher("keywords")  # doctest: +SKIP
    ... class KeywordTeacher(BaseTeacher): ...
    """

    def decorate(cls: TeacherClass) -> TeacherClass:
        if not (isinstance(cls, type) and issubclass(cls, BaseTeacher)):
            raise TypeError(f"teacher kind {kind!r}: {cls!r} must subclass toolkit.teachers.base.BaseTeacher")
        cls.kind = kind
        return TEACHER_KINDS.register(kind)(cls)

    return decorate


def build_teacher(
    spec: TeacherSpec,
    label_names: Sequence[str],
    seed: int,
    max_length: int,
    pack: Pack | None = None,
    fields: Sequence[FieldSpec] | None = None,
) -> Teacher:
    """A teacher from its config entry, e.g. `{name: tfidf_lr, kind: sklearn}`; rule teachers use `pack`'s hook,
    tabular ones read `fields` (default: the pack's; a run passes its own, which `*=fields` may have added to).

    >>> spec = TeacherSpec(name="tfidf_lr", kind="sklearn")
    >>> build_teacher(spec, ["low", "high"], seed=0, max_length=128).name
    'tfidf_lr'
    """
    kind = TEACHER_KINDS.get(spec.kind)
    options = kind.pack_options(dict(spec.options), spec, pack, fields)
    try:
        return kind(name=spec.name, label_names=list(label_names), seed=seed, max_length=max_length, **options)
    except TypeError as error:
        raise ConfigError(f"teachers.{spec.name}.options: {error}".replace("__init__() ", "")) from None
