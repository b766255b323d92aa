"""Plots a person would rather look at than read."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_models_side_by_side(metrics: dict, split: str = "test") -> Figure:
    """Bars of macro F1 and critical-class recall for every model of a run (from `report/metrics.json`)."""
    names = list(metrics["models"])
    critical = metrics.get("critical_label")
    macro = [metrics["models"][n][split]["macro_f1"] for n in names]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    positions = range(len(names))
    width = 0.4 if critical else 0.8
    axis.bar([p - width / 2 if critical else p for p in positions], macro, width, label="macro F1")
    if critical:
        recall = [metrics["models"][n][split]["per_class"][critical]["recall"] for n in names]
        axis.bar([p + width / 2 for p in positions], recall, width, label=f"recall of {critical}")
    axis.set_xticks(list(positions), names, rotation=20, ha="right")
    axis.set_ylim(0, 1)
    axis.set_title(f"{metrics['domain']}: models side by side ({split} split)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure
