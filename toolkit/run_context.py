"""What every stage shares: the run's folder, pack, effective config and seed, what a stage is (`Stage`), and
readers of earlier stages' outputs (splits, stored probabilities, the fitted ensemble rule, the fitted teachers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config import PackConfig, apply_overrides, validate_pack_config
from toolkit.data.splits import SPLITS, Split
from toolkit.logs import Log, stage_log
from toolkit.manifest import Manifest, file_digest
from toolkit.packs import Pack, pack_of_run
from toolkit.registry import teacher_trait
from toolkit.run_layout import RunLayout
from toolkit.teachers.base import Teacher, build_teacher
from toolkit.teachers.ensemble import EnsembleRule, fit_ensemble_rules


@dataclass
class RunContext:
    run_dir: Path
    pack: Pack
    config: PackConfig
    data_path: Path
    seed: int
    fast: bool
    manifest: Manifest
    log: Log
    progress: bool = True
    fingerprints: dict[str, str] = field(default_factory=dict)  # each stage's cache key, set by the driver

    @property
    def labels(self) -> list[str]:
        return self.config.label_names

    @property
    def layout(self) -> RunLayout:
        """The run folder's files by name, e.g. `ctx.layout.ensemble_probs`."""
        return RunLayout(self.run_dir)


def always(config: PackConfig) -> bool:
    """A stage no config key turns off."""
    return True


@dataclass(frozen=True)
class Stage:
    """One step of a run, as the driver (toolkit/pipeline.py) sees it.

    `fingerprint(ctx, upstream)` is the stage's cache key from the config keys and files it reads and the keys of
    the stages before it (`upstream`, by name); the stage is skipped while its key is the one recorded in the
    manifest. `run(ctx)` does the work and returns what the manifest records about it.

    >>> Stage("data", fingerprint=lambda ctx, upstream: "key", run=lambda ctx: {}).enabled(None)
    True
    """

    name: str
    fingerprint: Callable[[RunContext, dict[str, str]], str]
    run: Callable[[RunContext], dict]
    enabled: Callable[[PackConfig], bool] = always  # whether the config lets the stage run
    main_process_only: bool = False  # under accelerate / torchrun the others wait (data and evaluation run once)
    after: Callable[[RunContext], None] | None = None  # runs whether the stage ran or was reused


def hook_digest(ctx: RunContext, name: str) -> str | None:
    """The digest of a pack hook's file, so that editing a pack's rules re-runs the teachers and editing its
    metrics only the stages that compute metrics."""
    hooks = ctx.config.hooks
    path = ctx.pack.root / hooks[name].partition(":")[0] if name in hooks else None
    return file_digest(path) if path is not None and path.is_file() else None


def load_split(ctx: RunContext, name: str) -> Split:
    """One split's rendered inputs, label indices and structured fields (for teachers that read them)."""
    frame = pd.read_parquet(ctx.layout.split(name))
    index = {label: i for i, label in enumerate(ctx.labels)}
    fields = [f.name for f in ctx.config.columns.fields if f.name in frame.columns]
    return Split(frame["input"].tolist(), frame["label"].map(index).to_numpy(), rows=frame[fields])


def load_probs(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in SPLITS}


def fit_rules(ctx: RunContext, validation: list[np.ndarray], y_val: np.ndarray) -> dict[str, EnsembleRule]:
    """Every ensemble method fitted on the teachers' validation probabilities (deterministic, so refitting it from
    the stored probabilities gives the rule the teachers stage used)."""
    specs = ctx.config.teachers
    cheap_names = ctx.config.ensemble.cheap or [s.name for s in specs if teacher_trait(s.kind, "cheap")]
    cheap = [i for i, s in enumerate(specs) if s.name in cheap_names]
    return fit_ensemble_rules(validation, y_val, cheap, ctx.config.ensemble.sharpness)


def teacher_probs(ctx: RunContext) -> list[dict[str, np.ndarray]]:
    """Each teacher's stored probabilities per split, in the pack's teacher order."""
    return [load_probs(ctx.layout.teacher_probs(spec.name)) for spec in ctx.config.teachers]


def ensemble_rule(ctx: RunContext) -> EnsembleRule:
    """The ensemble the student learns from, refitted from the stored validation probabilities."""
    validation = [probs["validation"] for probs in teacher_probs(ctx)]
    return fit_rules(ctx, validation, load_split(ctx, "validation").labels)[ctx.config.ensemble.method]


def restore_teachers(ctx: RunContext, names: Sequence[str] | None = None) -> list[Teacher]:
    """The teachers the teachers stage fitted and saved (those in `names` only, if given), ready to label inputs."""
    teachers = []
    for spec in ctx.config.teachers:
        if names is not None and spec.name not in names:
            continue
        max_length = ctx.config.student.max_length
        teacher = build_teacher(
            spec, ctx.labels, seed=ctx.seed, max_length=max_length, pack=ctx.pack, fields=ctx.config.columns.fields
        )
        teacher.load(ctx.layout.teacher(spec.name))
        teachers.append(teacher)
    return teachers


def open_run(
    run_dir: Path, overrides: dict | None = None, log: Log = stage_log, pack: str | Path | None = None
) -> RunContext:
    """The context of an existing run folder, with the config it stored (plus dotted-key `overrides`). Its pack is
    the installed pack of the run's name, or `pack` (a name or folder the user gave): never a folder the run's own
    files point to, since a pack's hooks are code."""
    manifest = Manifest.open(Path(run_dir))
    config = validate_pack_config(manifest.data["config"], f"{manifest.path} config")
    config = apply_overrides(config, overrides) if overrides else config
    return RunContext(
        run_dir=Path(run_dir),
        pack=pack_of_run(manifest.data["domain"], manifest.data.get("pack_dir", ""), pack),
        config=config,
        data_path=Path(manifest.data["data"]),
        seed=manifest.data["seed"],
        fast=manifest.data["fast"],
        manifest=manifest,
        log=log,
    )
