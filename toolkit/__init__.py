"""domain-distill: turn labeled domain data and several big teachers into a small, measured student classifier.

A run from Python, on a DataFrame:

>>> import pandas as pd
>>> from toolkit import RunRequest, run
>>> frame = pd.read_csv("data_templates/medical_triage/example_labeled.csv")
>>> result = run(RunRequest(domain="medical_triage", data=frame, out="runs/triage", fast=True))  # doctest: +SKIP
>>> result.metrics["models"]["student"]["test"]["macro_f1"]  # doctest: +SKIP

The names below load on first use: importing `toolkit` (as the CLI does for `--help`) stays fast, and torch and
transformers are imported only when a name that needs them is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "run": "toolkit.pipeline",
    "compress_run": "toolkit.pipeline",
    "RunRequest": "toolkit.run_request",
    "RunResult": "toolkit.run_request",
    "Predictor": "toolkit.predict",
    "load_pack": "toolkit.packs",
    "Pack": "toolkit.packs",
    "PackConfig": "toolkit.config",
    "DistillationTrainer": "toolkit.distill.trainer",
    "distillation_loss": "toolkit.distill.losses",
}
__all__ = [
    "DistillationTrainer",
    "Pack",
    "PackConfig",
    "Predictor",
    "RunRequest",
    "RunResult",
    "compress_run",
    "distillation_loss",
    "load_pack",
    "run",
]

if TYPE_CHECKING:  # what editors and type checkers see
    from toolkit.config import PackConfig
    from toolkit.distill.losses import distillation_loss
    from toolkit.distill.trainer import DistillationTrainer
    from toolkit.packs import Pack, load_pack
    from toolkit.pipeline import compress_run, run
    from toolkit.predict import Predictor
    from toolkit.run_request import RunRequest, RunResult


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
