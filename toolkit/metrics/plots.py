"""Plots a person would rather look at than read."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve


def subplots(*grid: int, figsize: tuple[float, float], **options) -> tuple[Figure, object]:
    """A figure with its axes, made without pyplot: no backend is chosen and no window opens, whatever the caller's
    matplotlib settings (a notebook still shows the returned figure; `figure.savefig` writes files).

    >>> figure, axis = subplots(figsize=(4, 3))
    """
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid, **options)


def plot_models_side_by_side(metrics: dict, split: str = "test") -> Figure:
    """Bars of macro F1 and critical-class recall for every model of a run (from `report/metrics.json`)."""
    names = list(metrics["models"])
    critical = metrics.get("critical_label")
    macro = [metrics["models"][n][split]["macro_f1"] for n in names]
    intervals = [metrics["models"][n][split].get("intervals", {}).get("macro_f1") for n in names]
    errors = (
        np.array([[m - i["low"], i["high"] - m] for m, i in zip(macro, intervals, strict=True)]).T
        if all(intervals)
        else None
    )
    figure, axis = subplots(figsize=(8, 3.5))
    positions = range(len(names))
    width = 0.4 if critical else 0.8
    axis.bar(
        [p - width / 2 if critical else p for p in positions],
        macro,
        width,
        yerr=errors,
        capsize=3,
        label="macro F1 (95% interval)" if errors is not None else "macro F1",
    )
    if critical:
        recall = [metrics["models"][n][split]["per_class"][critical]["recall"] for n in names]
        axis.bar([p + width / 2 for p in positions], recall, width, label=f"recall of {critical}")
    axis.set_xticks(list(positions), names, rotation=20, ha="right")
    axis.set_ylim(0, 1)
    axis.set_title(f"{metrics['domain']}: models side by side ({split} split)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def plot_confusion(matrix: list[list[int]], labels: list[str], title: str) -> Figure:
    """Counts with the true class in rows; the diagonal is right, below it an under-call for ordered labels."""
    counts = np.asarray(matrix)
    figure, axis = subplots(figsize=(3.6, 3.2))
    axis.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        axis.text(j, i, str(value), ha="center", va="center", color="white" if value > counts.max() / 2 else "black")
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_precision_recall(y_true: np.ndarray, probs: np.ndarray, labels: list[str], title: str) -> Figure:
    """One-vs-rest precision-recall curve per class."""
    figure, axis = subplots(figsize=(4.2, 3.4))
    for k, label in enumerate(labels):
        positive = np.asarray(y_true) == k
        if 0 < positive.sum() < len(positive):
            precision, recall, _ = precision_recall_curve(positive, probs[:, k])
            axis.plot(recall, precision, label=label)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def plot_reliability(curves: dict[str, list[dict]], title: str) -> Figure:
    """Accuracy against confidence per bin, one line per probability set (e.g. raw and temperature-scaled)."""
    figure, axis = subplots(figsize=(4.2, 3.4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name, bins in curves.items():
        axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=name)
    axis.set_xlabel("confidence (top class)")
    axis.set_ylabel("accuracy")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def risk_coverage_models(models: dict) -> list[str]:
    """The models a risk–coverage plot compares: the student, the ensemble it learned from, and the single-model
    baselines a user would otherwise build (TF-IDF + LR, a plain fine-tune)."""
    picked = [n for n, e in models.items() if n == "student" or "soft targets" in e["role"]]
    picked += [n for n, e in models.items() if e["role"] in ("teacher (sklearn)", "teacher (hf)")]
    return [n for n in picked if models[n].get("selective")]


def plot_risk_coverage(models: dict, names: list[str], critical: str | None = None) -> Figure:
    """Risk (1 − accuracy among the answered rows) against coverage on test, 95% bands; with a critical class, its
    recall among the answered beside it."""
    panels = 2 if critical else 1
    figure, axes = subplots(1, panels, figsize=(5.5 * panels, 3.8), squeeze=False)
    for name in names:
        curve = models[name]["selective"]["test_curve"]
        label = f"{name} ({models[name]['selective']['score']})"
        for axis, key in zip(axes[0], ("risk", "critical_recall"), strict=False):
            if key not in curve:
                continue
            emphasis = {"linewidth": 2.5, "zorder": 5} if name == "student" else {"linewidth": 1.2, "alpha": 0.9}
            (line,) = axis.plot(curve["coverage"], curve[key], marker=".", label=label, **emphasis)
            axis.fill_between(
                curve["coverage"], curve[f"{key}_low"], curve[f"{key}_high"], alpha=0.15, color=line.get_color()
            )
    axes[0][0].set(
        xlabel="coverage (share answered, surest first)", ylabel="risk (1 − accuracy)", title="risk–coverage, test"
    )
    if critical:
        axes[0][1].set(
            xlabel="coverage",
            ylabel=f"recall of {critical} among answered",
            ylim=(0, 1.02),
            title=f"{critical} recall–coverage, test",
        )
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def report_figures(payload: dict, y_test: np.ndarray, student_probs: np.ndarray) -> list[tuple[Figure, str]]:
    """The report's plots with their captions: models side by side, confusion matrices of the student and the best
    teacher or ensemble, the student's precision-recall curves and its reliability diagram before / after scaling."""
    labels, models = payload["labels"], payload["models"]
    student = models["student"]
    best_teacher = max(
        (n for n, e in models.items() if e["role"].startswith(("teacher", "ensemble"))),
        key=lambda n: models[n]["test"]["macro_f1"],
        default=None,
    )
    scaled = student["test"]["calibration_scaled"]
    figures = [
        (plot_models_side_by_side(payload), "Teachers, ensembles and student: macro F1 with 95% intervals"),
        (plot_confusion(student["test"]["confusion_matrix"], labels, "student"), "Confusion matrix: student"),
    ]
    if best_teacher:
        matrix = models[best_teacher]["test"]["confusion_matrix"]
        figures.append((plot_confusion(matrix, labels, best_teacher), f"Confusion matrix: {best_teacher}"))
    reliability = {
        "raw": student["test"]["calibration"]["reliability"],
        f"temperature {scaled['temperature']:.2f}": scaled["reliability"],
    }
    compared = risk_coverage_models(models)
    if compared:
        figures.append(
            (
                plot_risk_coverage(models, compared, payload.get("critical_label")),
                "Risk–coverage on test (95% bands): answering only the surest rows",
            )
        )
    figures += [
        (plot_precision_recall(y_test, student_probs, labels, "student"), "Precision-recall, one class vs rest"),
        (
            plot_reliability(reliability, "student calibration"),
            f"Reliability diagram: ECE {student['test']['calibration']['ece']:.3f} raw, {scaled['ece']:.3f} scaled",
        ),
    ]
    return figures
