"""What every benchmark script shares: the machine line, the commit measured, and writing a marked section of
BENCHMARKS.md (raw figures go to bench/results/ first, so a formatting slip never costs a measurement)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def code_version() -> str:
    """The commit measured, flagged when toolkit/ or domains/ had uncommitted changes."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "toolkit", "domains"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return commit.strip() + (" (with uncommitted changes)" if dirty else "")


def machine_line(command: str, version: str) -> str:
    return (
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, no GPU · date {date.today()} · commit {version} · "
        f"command: `{command}`"
    )


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
