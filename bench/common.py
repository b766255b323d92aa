"""What every benchmark script shares: the machine line, the commit measured, and writing a marked section of
BENCHMARKS.md (raw figures go to bench/results/ first, so a formatting slip never costs a measurement)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from toolkit.manifest import cpu_name

ROOT = Path(__file__).resolve().parents[1]
# the real data sets; a copy elsewhere (e.g. on a lent GPU machine) via SHARED_DATASETS
SHARED = Path(os.environ.get("SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
# their fixed train / validation / test rows (the rows DESIGN.md's peer figures were measured on)
SPLITS = Path(os.environ.get("SHARED_SPLITS", SHARED.parent / "splits"))


def code_version() -> str:
    """The commit measured, flagged when toolkit/ or domains/ had uncommitted changes. `BENCH_COMMIT` names it where
    the copy's git metadata is stale (a lent machine gets the working tree, not the history)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "toolkit", "domains"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return commit.strip() + (" (with uncommitted changes)" if dirty else "")


def accelerator() -> str:
    import torch

    return f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"


def machine_name() -> str:
    """This machine in words: its CPU, cores, accelerator and Python."""
    return f"{cpu_name()}, {os.cpu_count()} cores, {accelerator()}, Python {platform.python_version()}"


def machine_line(command: str, version: str, machine: str | None = None, day: str | None = None) -> str:
    """The line above every table: where, when (`day`: the measurement's, default today), which commit, how."""
    machine = machine or machine_name()
    return f"Machine: {machine} · date {day or date.today()} · commit {version} · command: `{command}`"


@dataclass(frozen=True)
class Saved:
    """Saved raw results, each `{"version", "command", "machine", "date", ...}`; the commits, commands, machines
    and dates of all of them, each listed once."""

    parts: list[dict]
    version: str
    command: str
    machine: str
    date: str

    def header(self) -> str:
        return machine_line(self.command, self.version, self.machine, self.date)


def read_saved(paths: list[Path]) -> Saved:
    parts = [json.loads(path.read_text()) for path in paths]

    def once(key: str, separator: str) -> str:
        return separator.join(dict.fromkeys(str(part.get(key, "?")) for part in parts))

    return Saved(parts, once("version", ", "), once("command", "; "), once("machine", "; "), once("date", ", "))


def save_results(path: Path, version: str, command: str, machine: str, **payload: object) -> Saved:
    """Write raw results with what measured them (commit, command, machine, today's date) before any table."""
    part = {"version": version, "command": command, "machine": machine, "date": str(date.today()), **payload}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(part, indent=1, default=str))
    return read_saved([path])


def write_section(name: str, title: str, body: str) -> str:
    """Replace (or append) the section between `<!-- name:start -->` and `<!-- name:end -->` in BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body}\n{end}"
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text += f"\n## {title}\n\n{section}\n"
    path.write_text(text)
    return section


# The real data sets through the packs, as config overrides: only a column / label map (the same maps as the tests
# and the pack READMEs).
SMS_MAP = {
    "input_map.columns": {"TEXT": "text", "LABEL": "label"},
    "input_map.labels": {"ham": "low", "spam": "medium", "smishing": "high"},
    "input_map.drop_conflicting": True,
}
GERMAN_CREDIT_MAP = {
    "input_map.columns": {"*": "text", "risk": "label", "class": "id"},
    "input_map.labels": {"good": "low", "bad": "high"},
}
MIMIC_MAP = {  # ESI 1-2 emergent, 3-4 urgent (ESI 4: 2 stays, ESI 5: none); split by patient
    "input_map.columns": {
        "chiefcomplaint": "text",
        "acuity": "label",
        "subject_id": "group",
        "stay_id": "id",
        "heartrate": "heart_rate",
        "resprate": "resp_rate",
        "o2sat": "spo2",
        "sbp": "systolic_bp",
    },
    "input_map.labels": {"1": "emergent", "2": "emergent", "3": "urgent", "4": "urgent"},
    "input_map.drop_unlabeled": True,
}


def split_file(folder: str, out: Path, drop: tuple[str, ...] = ()) -> Path:
    """The fixed train / validation / test rows of `SPLITS/folder` in one file, each row's split in a `split`
    column (the pipeline then uses exactly these rows), without the columns in `drop`."""
    import pandas as pd

    frames = [
        pd.read_csv(SPLITS / folder / f"{split}.csv", dtype=str).assign(split=split)
        for split in ("train", "validation", "test")
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).drop(columns=list(drop)).to_csv(out, index=False)
    return out


# The fixed splits through the packs (their files carry a `split` column); the same maps for every benchmark.
SPLIT_COLUMNS = {"text": "text", "label": "label", "split": "split"}
MIMIC_SPLIT_MAP = {  # ESI 1-2 emergent, 3-4 urgent; the peers' serialised `text` column is dropped (see split_file)
    "input_map.columns": {
        "chiefcomplaint": "text",
        "label": "label",
        "subject_id": "group",
        "split": "split",
        "heartrate": "heart_rate",
        "resprate": "resp_rate",
        "o2sat": "spo2",
        "sbp": "systolic_bp",
    },
    "input_map.labels": {"1": "emergent", "2": "emergent", "3": "urgent", "4": "urgent"},
}
SMS_SPLIT_MAP = {
    "input_map.columns": SPLIT_COLUMNS,
    "input_map.labels": {"ham": "low", "spam": "medium", "smishing": "high"},
    "input_map.drop_conflicting": True,
}
