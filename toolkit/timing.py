"""Wall time, throughput and peak memory of each stage (and, with `--profile`, of each step inside one).

Peak memory is per stage, not per process: the kernel's high-water mark of resident memory is reset when a stage
starts (Linux `clear_refs`), so a stage that follows a hungry one shows its own peak; on GPU, PyTorch's peak of
allocated memory is reset the same way.

>>> with Meter() as meter:  # doctest: +SKIP
...     train()
>>> meter.seconds, meter.peak_memory_mb  # doctest: +SKIP
(41.2, 1830.5)
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_peak_rss() -> bool:
    """Start a new high-water mark of resident memory; False where the system does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """The resident-memory high-water mark since the last reset (else since the process started)."""
    if STATUS.is_file():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _cuda() -> Any | None:
    torch = sys.modules.get("torch")  # never imported only to measure
    return torch.cuda if torch is not None and torch.cuda.is_available() else None


class Meter:
    """Times a block and records its peak resident memory (and GPU memory, on a GPU)."""

    def __enter__(self) -> Meter:
        self.per_stage = _reset_peak_rss()
        cuda = _cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.peak_memory_mb = round(_peak_rss_mb(), 1)
        cuda = _cuda()
        self.peak_gpu_memory_mb = round(cuda.max_memory_allocated() / 2**20, 1) if cuda is not None else None

    def record(self) -> dict[str, Any]:
        """What the manifest keeps for a stage or step."""
        entry: dict[str, Any] = {"peak_memory_mb": self.peak_memory_mb}
        if self.peak_gpu_memory_mb is not None:
            entry["peak_gpu_memory_mb"] = self.peak_gpu_memory_mb
        return entry


class StepClock:
    """Seconds of consecutive steps inside a stage, for its `--profile` breakdown.

    >>> clock = StepClock(); fit(); clock.lap("fit"); clock.laps  # doctest: +SKIP
    {'fit': 12.3}
    """

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Record the time since the last lap (or the start) as step `name`."""
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 1)
        self._last = now

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def stage_timings(
    stages: dict[str, dict], order: list[str], ran: set[str], rows: int, wall_seconds: float
) -> dict[str, Any]:
    """Per stage: seconds, rows/s (the run's input rows over the stage's time), its share of the run and peak memory.
    A stage not in `ran` was reused from an earlier invocation: its time is shown, and not counted in the shares.

    >>> stages = {"data": {"status": "done", "seconds": 2.0, "peak_memory_mb": 300}}
    >>> stage_timings(stages, ["data"], {"data"}, rows=400, wall_seconds=2.5)["stages"][0]["rows_per_second"]
    200.0
    """
    entries = []
    for name in order:
        stage = stages.get(name)
        if stage is None or stage.get("status") != "done":
            continue
        entries.append(
            {
                "stage": name,
                "ran": name in ran,
                "seconds": float(stage.get("seconds", 0.0)),
                "rows_per_second": round(rows / stage["seconds"], 1) if stage.get("seconds") else None,
                "peak_memory_mb": stage.get("peak_memory_mb"),
                "peak_gpu_memory_mb": stage.get("peak_gpu_memory_mb"),
                "steps": stage.get("steps", {}),
            }
        )
    counted = sum(e["seconds"] for e in entries if e["ran"])
    for entry in entries:
        entry["share"] = round(entry["seconds"] / counted, 3) if entry["ran"] and counted else None
    return {
        "rows": rows,
        "wall_seconds": round(wall_seconds, 1),
        "stages_seconds": round(counted, 1),
        "stages": entries,
    }


def timings_markdown(timings: dict[str, Any], steps: bool = False) -> list[str]:
    """The report's section: one row per stage (and per step with `steps`)."""
    lines = [
        "## Stage timings",
        "",
        f"This invocation: {timings['wall_seconds']:,.1f} s wall, of which the stages "
        f"{timings['stages_seconds']:,.1f} s; "
        f"{timings['rows']:,} input rows. Rows/s is the input rows over the stage's time. Peak memory is the "
        "stage's own high-water mark of resident memory. A stage unchanged since an earlier run was reused: its "
        "time is that run's, and it is not counted in the shares.",
        "",
        "| stage | seconds | rows/s | share of the run | peak memory (MB) | peak GPU memory (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for e in timings["stages"]:
        share = f"{e['share']:.0%}" if e["share"] is not None else "reused"
        rate = f"{e['rows_per_second']:,.1f}" if e["rows_per_second"] else "—"
        memory = f"{e['peak_memory_mb']:,.0f}" if e["peak_memory_mb"] is not None else "—"
        gpu = f"{e['peak_gpu_memory_mb']:,.0f}" if e["peak_gpu_memory_mb"] is not None else "—"
        lines.append(f"| {e['stage']} | {e['seconds']:,.1f} | {rate} | {share} | {memory} | {gpu} |")
        if steps:
            for step, seconds in e["steps"].items():
                share = f"{seconds / e['seconds']:.0%} of {e['stage']}" if e["seconds"] else "—"
                lines.append(f"| · {step} | {seconds:,.1f} | | {share} | | |")
    return lines
