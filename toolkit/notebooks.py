"""What the guided notebooks share: the run request that the first notebook of a series makes and the later ones
continue, and the small settings CI runs them on.

>>> request = start("medical_triage", "../../runs/notebooks-medical_triage")  # doctest: +SKIP
>>> request = resume("../../runs/notebooks-medical_triage")  # in 02_teachers and later  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from toolkit.data.column_map import input_map_overrides
from toolkit.errors import ConfigError
from toolkit.logs import ROOT_LOGGER, show_logs
from toolkit.packs import PACK_NAME
from toolkit.pipeline import RunRequest
from toolkit.safe_io import atomic_write_text

# A notebook shows each stage's messages under the cell that runs it (unless the notebook configured logging itself).
if not logging.getLogger(ROOT_LOGGER).handlers:
    show_logs(handler=logging.StreamHandler(sys.stdout))

REQUEST_FILE = "notebook_request.json"

# CI executes every notebook (`make test` sets DOMAIN_DISTILL_SMALL=1): the same path on fewer rows, epochs and
# samples, so that all of them fit in CI's time on 2 cores. Figures from these settings mean nothing.
SMALL_OVERRIDES: dict[str, Any] = {
    "fast.max_train_rows": 200,
    "fast.max_length": 64,
    "fast.teacher_epochs": 1,
    "fast.student_epochs": 2,
    "filter.reward.agreement_pairs": 100,
    "filter.reward.generated_pairs": 30,
    "filter.generator.sft_epochs": 1,
    "filter.generator.ppo_episodes": 32,
    "filter.generator.samples": 64,
    "filter.generator.max_length": 64,
    "filter.generator.response_length": 32,
    "filter.reward.max_length": 64,
    "filter.label_issues.folds": 2,
    "compress.prune.step": 0.1,
    "compress.latency.texts": 30,
    "compress.latency.repeats": 1,
    "recipe_search.budget": 0.0,  # the recipe and the plain fine-tune; the other candidates are listed as skipped
}


def small() -> bool:
    """True when the notebooks run under CI's small settings."""
    return os.environ.get("DOMAIN_DISTILL_SMALL") == "1"


def start(
    pack: str,
    run_dir: str | Path,
    data: str | Path | None = None,
    fast: bool = True,
    column_map: str | None = None,
    label_map: str | None = None,
    drop_unlabeled: bool = False,
    overrides: dict[str, Any] | None = None,
) -> RunRequest:
    """The request of a notebook series (what `domain-distill run` would get), saved in the run folder so that the
    next notebooks continue it with `resume(run_dir)`. Maps are written like the CLI's --map / --labels."""
    request = RunRequest(
        domain=pack,
        data=Path(data) if data else None,
        out=Path(run_dir),
        fast=fast,
        overrides={
            **input_map_overrides(column_map, label_map, drop_unlabeled),
            **(SMALL_OVERRIDES if small() else {}),
            **(overrides or {}),
        },
    )
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    saved = {
        "domain": pack,
        "data": str(data) if data else None,
        "fast": fast,
        "overrides": request.overrides,
    }
    atomic_write_text(Path(run_dir) / REQUEST_FILE, json.dumps(saved, indent=2))
    return request


def resume(run_dir: str | Path, pack: str | None = None) -> RunRequest:
    """The request the series' first notebook saved in `run_dir`. The saved pack is looked up by name among the
    installed packs; a pack given by folder must be named again (`pack=`), since a run folder is data and a pack's
    hooks are code."""
    path = Path(run_dir) / REQUEST_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; run the series' first notebook (01_data) with this RUN_DIR first",
            hint="or set RUN_DIR to the folder that notebook used",
        )
    saved = json.loads(path.read_text(encoding="utf-8"))
    if pack is None and not PACK_NAME.fullmatch(str(saved.get("domain", ""))):
        raise ConfigError(
            f"{path}: names the pack {saved.get('domain')!r}, which is a path, not an installed pack's name",
            hint="name the pack yourself if you trust that folder: resume(RUN_DIR, pack='path/to/pack')",
        )
    return RunRequest(
        domain=pack or saved["domain"],
        data=Path(saved["data"]) if saved["data"] else None,
        out=Path(run_dir),
        fast=saved["fast"],
        overrides=saved["overrides"],
    )
