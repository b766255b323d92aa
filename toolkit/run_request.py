"""What a run is asked for (`RunRequest`) and what it gives back (`RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError
from toolkit.packs import Pack


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: `domain-distill run --domain D [--data F] [--out DIR] [--fast] [--seed S]`.

    >>> RunRequest(domain="medical_triage", data=Path("triage.csv"), fast=True).run_dir("medical_triage")
    PosixPath('runs/medical_triage')
    """

    domain: str
    data: Path | None = None
    out: Path | None = None
    fast: bool = False
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # CPU threads of every pool in this process; None: the cores it may use
    profile: bool = False  # the report's stage timings break the filter, distill and compress stages into steps

    def run_dir(self, pack_name: str) -> Path:
        """`out`, or `runs/<pack name>`."""
        return Path(self.out) if self.out else Path("runs") / pack_name


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    report_path: Path
    metrics: dict | None  # None until the evaluate stage has run


def resolve_data_path(request: RunRequest, pack: Pack) -> Path:
    """The labeled file of the run: the request's, else the pack's example data."""
    if request.data is not None:
        return request.data
    if pack.config.example_data is None:
        raise ConfigError(
            f"{pack.root / 'pack.yaml'}: no `example_data` declared and no --data given",
            hint="pass --data FILE with your labeled rows",
        )
    return pack.resolve_path(pack.config.example_data)
