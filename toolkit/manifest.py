"""The run's `manifest.json`: the full validated config, versions, seed, and each stage's fingerprint and timing.

A stage whose fingerprint (its config section plus its inputs' fingerprints) matches the manifest's is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
TRACKED_PACKAGES = (
    "domain-distill",
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "scikit-learn",
    "pandas",
    "numpy",
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
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_summary() -> dict[str, Any]:
    import torch

    return {
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
        from toolkit.distributed import is_main_process

        if not is_main_process():  # one writer under accelerate / torchrun
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash mid-write never leaves a truncated manifest behind.
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.path)
