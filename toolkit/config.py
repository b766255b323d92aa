"""Typed configuration: a pack's `pack.yaml` and a run's overrides, validated once with messages naming the key.

Examples
--------
>>> from toolkit.config import load_pack_config
>>> cfg = load_pack_config("domains/finance_risk/pack.yaml")  # doctest: +SKIP
>>> cfg.label_names  # doctest: +SKIP
['low', 'medium', 'high']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolkit.errors import ConfigError


class StrictModel(BaseModel):
    """Base for every config object: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""


class Band(StrictModel):
    """A named range of a numeric field, rendered next to the value, e.g. `SpO2 88% (low)`."""

    tag: str
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Band:
        if (self.below is None) == (self.above is None):
            raise ValueError("a band needs exactly one of `below` or `above`")
        return self


class FieldSpec(StrictModel):
    """A structured column that travels with the free text."""

    name: str
    type: Literal["int", "float", "category"]
    label: str | None = None  # how the field is named in the rendered text; defaults to `name`
    unit: str = ""
    allowed: list[str] | None = None  # for categories
    bands: list[Band] = []
    required: bool = True


class ColumnSpec(StrictModel):
    """Names of the columns in the user's file (the column map of issue 3 rewrites these)."""

    id: str | None = None
    text: str = "text"
    label: str = "label"
    group: str | None = None  # rows sharing a group (e.g. a patient) never straddle splits
    fields: list[FieldSpec] = []


class TargetSpec(StrictModel):
    """A figure the domain must reach, e.g. recall of `high` at least 0.95."""

    metric: Literal["recall", "precision", "f1", "macro_f1", "accuracy"]
    label: str | None = None
    at_least: float = Field(ge=0.0, le=1.0)

    @property
    def key(self) -> str:
        return f"{self.metric}[{self.label}]" if self.label else self.metric


class TeacherSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["sklearn", "hf"]
    options: dict[str, Any] = {}


class LoraSpec(StrictModel):
    r: int = Field(default=8, ge=1, le=256)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None  # None: found from the architecture


class StudentSpec(StrictModel):
    model: str = "minilm"  # alias, hub id or local path
    lora: LoraSpec | None = LoraSpec()
    max_length: int = Field(default=128, ge=8, le=4096)


class DistillSpec(StrictModel):
    temperature: float = Field(default=2.0, gt=0.0, le=20.0)
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)  # weight of the gold-label CE; (1 - alpha) goes to KL
    epochs: float = Field(default=6.0, gt=0.0)
    learning_rate: float = Field(default=2e-3, gt=0.0, lt=1.0)
    batch_size: int = Field(default=16, ge=1)
    weight_decay: float = Field(default=0.01, ge=0.0)


class SplitSpec(StrictModel):
    validation: float = Field(default=0.15, gt=0.0, lt=0.5)
    test: float = Field(default=0.15, gt=0.0, lt=0.5)
    seed: int = 13


class FastSpec(StrictModel):
    """Reductions applied by `--fast`: a whole run on 2 CPU cores in a few minutes."""

    max_train_rows: int = Field(default=400, ge=10)
    max_length: int = Field(default=96, ge=8)
    teacher_epochs: float = Field(default=3.0, gt=0.0)
    student_epochs: float = Field(default=3.0, gt=0.0)


class PackConfig(StrictModel):
    """Everything a domain pack declares; `domains/<pack>/pack.yaml` is validated into this."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    labels: list[LabelSpec] = Field(min_length=2)
    ordinal: bool = False
    critical_label: str | None = None
    example_data: str | None = None  # path relative to the repository root
    columns: ColumnSpec = ColumnSpec()
    targets: list[TargetSpec] = []
    teachers: list[TeacherSpec] = Field(min_length=1)
    student: StudentSpec = StudentSpec()
    distill: DistillSpec = DistillSpec()
    split: SplitSpec = SplitSpec()
    fast: FastSpec = FastSpec()
    hooks: dict[str, str] = {}  # hook name -> "file.py:function" inside the pack folder

    @model_validator(mode="after")
    def _labels_are_consistent(self) -> PackConfig:
        names = self.label_names
        if len(set(names)) != len(names):
            raise ValueError(f"labels: names must be unique, got {names}")
        if self.critical_label is not None and self.critical_label not in names:
            raise ValueError(f"critical_label: {self.critical_label!r} is not one of the labels {names}")
        for target in self.targets:
            if target.label is not None and target.label not in names:
                raise ValueError(f"targets: label {target.label!r} is not one of the labels {names}")
        teacher_names = [t.name for t in self.teachers]
        if len(set(teacher_names)) != len(teacher_names):
            raise ValueError(f"teachers: names must be unique, got {teacher_names}")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


def _format_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    more = len(error.errors()) - 1
    suffix = f"; and {more} more problem(s)" if more else ""
    return f"{source}: key `{key}`: {message}{shown}{suffix}"


def validate_pack_config(data: dict[str, Any], source: str = "pack config") -> PackConfig:
    """Validate a pack config mapping; raise ConfigError naming the key, the value and what is allowed."""
    try:
        return PackConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def load_pack_config(path: str | Path) -> PackConfig:
    """Read and validate a `pack.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pack config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return validate_pack_config(data, str(path))


def apply_overrides(config: PackConfig, overrides: dict[str, Any], source: str = "overrides") -> PackConfig:
    """Return `config` with dotted-key overrides applied (e.g. {"distill.epochs": 2}), validated again."""
    data = config.model_dump()
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{source}: key `{dotted}`: `{part}` is not a config section")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ConfigError(f"{source}: key `{dotted}` does not exist")
        node[parts[-1]] = value
    return validate_pack_config(data, source)
