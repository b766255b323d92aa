"""Runs side by side: each run's models with their headline figures, intervals and target results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from toolkit.errors import DataError
from toolkit.run_layout import RunLayout


def load_metrics(run_dir: Path) -> dict:
    """A run's `report/metrics.json`, with a clear error when the folder holds no evaluated run."""
    path = RunLayout(Path(run_dir)).metrics
    if not path.is_file():
        raise DataError(f"{run_dir}: no report/metrics.json", hint="give a run folder whose evaluate stage finished")
    return json.loads(path.read_text(encoding="utf-8"))


def _interval(entry: dict, key: str) -> str:
    interval = entry.get("intervals", {}).get(key)
    return f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""


def comparison_rows(run_dirs: Sequence[Path], models: Sequence[str] = ("student",)) -> list[dict[str, str]]:
    """One row per (run, model): macro F1 and accuracy with 95% intervals, the critical class's recall, and the
    targets met by the decision policy (every model of the run when `models` is empty)."""
    rows = []
    for run_dir in run_dirs:
        metrics = load_metrics(run_dir)
        critical = metrics.get("critical_label")
        wanted = list(models) or list(metrics["models"])
        missing = [m for m in wanted if m not in metrics["models"]]
        if missing:
            raise DataError(f"{run_dir}: no model {missing} in this run; models: {sorted(metrics['models'])}")
        for name in wanted:
            entry = metrics["models"][name]
            test = entry["test"]
            targets = entry.get("policy", {}).get("targets", [])
            rows.append(
                {
                    "run": str(run_dir),
                    "domain": metrics["domain"],
                    "model": name,
                    "macro F1": f"{test['macro_f1']:.3f}{_interval(test, 'macro_f1')}",
                    "accuracy": f"{test['accuracy']:.3f}{_interval(test, 'accuracy')}",
                    "critical recall": (
                        f"{test['per_class'][critical]['recall']:.3f} ({critical})"
                        f"{_interval(test, f'recall[{critical}]')}"
                        if critical
                        else "—"
                    ),
                    "targets met (policy)": (
                        f"{sum(t['status'] == 'PASS' for t in targets)} / {len(targets)}" if targets else "—"
                    ),
                }
            )
    return rows
