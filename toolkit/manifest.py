"""The run's `manifest.json`: the full validated config, versions, seed, and each stage's fingerprint and timing.

A stage whose fingerprint (its config section plus its inputs' fingerprints) matches the manifest's is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from toolkit.distributed import is_main_process
from toolkit.safe_io import atomic_write_json, atomic_write_text

MANIFEST_NAME = "manifest.json"
TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "scikit-learn",
    "pandas",
    "numpy",
    "onnxruntime",
    "pydantic",
)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def environment_versions() -> dict[str, str]:
    import toolkit  # at call time: toolkit/__init__ may import what imports this module

    # toolkit.__version__, not the installed metadata: an editable install keeps the version it was installed with
    versions = {"domain-distill": toolkit.__version__}
    versions |= {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_name() -> str:
    """The processor's model name (Linux), else what the platform reports."""
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_summary() -> dict[str, Any]:
    import torch

    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Manifest:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, run_dir: Path) -> Manifest:
        path = run_dir / MANIFEST_NAME
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.setdefault("stages", {})
        return cls(path=path, data=data)

    def stage_is_current(self, stage: str, stage_fingerprint: str) -> bool:
        entry = self.data["stages"].get(stage, {})
        return entry.get("status") == "done" and entry.get("fingerprint") == stage_fingerprint

    def start_stage(self, stage: str, stage_fingerprint: str) -> None:
        """Clear the stage's "done" mark before it rewrites its outputs: a re-run interrupted half-way must not
        leave outputs of two configs that a later run, matching the old mark, would take as finished."""
        self.data["stages"][stage] = {"status": "running", "fingerprint": stage_fingerprint, "started_at": now()}
        self.save()

    def record_stage(self, stage: str, stage_fingerprint: str, seconds: float, **extra: Any) -> None:
        self.data["stages"][stage] = {
            "status": "done",
            "fingerprint": stage_fingerprint,
            "seconds": round(seconds, 2),
            "finished_at": now(),
            **extra,
        }
        self.save()

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.save()

    def save(self) -> None:
        if not is_main_process():  # one writer under accelerate / torchrun
            return
        atomic_write_json(self.path, self.data)


class Progress:
    """Which steps of a stage finished for this stage fingerprint (e.g. `filter/progress.json`), so a crash or a
    kill costs only the step it interrupted."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        stored = json.loads(path.read_text()) if path.is_file() else {}
        current = stored.get("key") == key
        self.steps: dict[str, dict] = stored.get("steps", {}) if current else {}
        self.seconds: dict[str, float] = stored.get("seconds", {}) if current else {}  # per step, for --profile
        self._mark = time.perf_counter()

    def done(self, step: str) -> bool:
        return step in self.steps

    def info(self, step: str) -> dict:
        return self.steps[step]

    def record(self, step: str, info: dict | None = None) -> None:
        """Mark `step` done; its time is what passed since the previous step (or since this record was opened)."""
        self.steps[step] = info or {}
        now_ = time.perf_counter()
        self.seconds[step] = round(now_ - self._mark, 2)
        self._mark = now_
        self._save()

    def forget(self, which: Callable[[str], bool]) -> None:
        """Mark the steps `which` selects as not done, so that they run again."""
        self.steps = {step: info for step, info in self.steps.items() if not which(step)}
        self._save()

    def _save(self) -> None:
        stored = {"key": self.key, "steps": self.steps, "seconds": self.seconds}
        atomic_write_text(self.path, json.dumps(stored, indent=2, default=float))
