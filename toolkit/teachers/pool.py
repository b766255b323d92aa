"""Label a large pool (e.g. the unlabeled template) with a teacher fitted in a run, through the run's cache.

domain-distill label --run runs/finance_risk --teacher tfidf_lr --input pool.csv --output pool_labels.parquet
accelerate launch --num_processes 2 --cpu -m toolkit.cli label ...     # each process labels a share
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config import PackConfig, validate_pack_config
from toolkit.data.loading import read_table
from toolkit.data.validation import validate_frame
from toolkit.errors import ConfigError
from toolkit.manifest import MANIFEST_NAME
from toolkit.packs import pack_of_run
from toolkit.teachers.base import build_teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.labeling import LabelingStats, label_texts


@dataclass(frozen=True)
class PoolLabels:
    frame: pd.DataFrame  # id, input, one probability column per label, predicted label
    stats: LabelingStats


def run_config(run_dir: Path) -> tuple[PackConfig, dict]:
    """The validated config a run recorded in its manifest."""
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {MANIFEST_NAME}; is this a run folder made by `domain-distill run`?")
    manifest = json.loads(path.read_text())
    return validate_pack_config(manifest["config"], str(path)), manifest


def label_pool(
    run_dir: Path, teacher_name: str, input_path: Path, show_progress: bool = True, pack: str | Path | None = None
) -> PoolLabels:
    """Probabilities of `teacher_name` (fitted in `run_dir`) for every row of an unlabeled file."""
    config, manifest = run_config(run_dir)
    specs = {t.name: t for t in config.teachers}
    if teacher_name not in specs:
        raise ConfigError(f"--teacher {teacher_name!r}: not a teacher of this run; teachers: {sorted(specs)}")
    folder = run_dir / "teachers" / teacher_name
    if not (folder / "fitted.json").is_file():
        raise ConfigError(f"{folder}: this teacher was not fitted in the run yet; run the teachers stage first")
    pack = pack_of_run(manifest["domain"], manifest.get("pack_dir", ""), pack)
    frame, report, mapped = validate_frame(read_table(input_path), config, input_path, labeled=False)
    report.raise_if_errors()
    texts = frame["input"].tolist()
    rows = frame[[f.name for f in mapped.columns.fields if f.name in frame.columns]]
    teacher = build_teacher(
        specs[teacher_name],
        config.label_names,
        seed=manifest["seed"],
        max_length=config.student.max_length,
        pack=pack,
        fields=config.columns.fields,
    )
    teacher.load(folder)
    cache = TeacherCache(run_dir / "teachers" / "cache.sqlite")
    probs, stats = label_texts(teacher, texts, cache, rows=rows, show_progress=show_progress)
    cache.close()
    out = pd.DataFrame({"id": frame["id"], "input": texts})
    for k, label in enumerate(config.label_names):
        out[f"p_{label}"] = probs[:, k]
    out["predicted"] = np.asarray(config.label_names)[probs.argmax(axis=1)]
    return PoolLabels(frame=out, stats=stats)
