"""The deployed student against the baselines a user would build instead, on the same rows: the plain fine-tune
of the student's base model, and the run's TF-IDF / tabular teachers (scikit-learn models on the text or fields).

Each comparison gives the validation figures (what chose the deployed model) and the test difference in macro F1
with a paired bootstrap 95% interval, so the report can say plainly whether distillation helped or hurt.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from toolkit.config import PackConfig
from toolkit.data.scores import macro_f1
from toolkit.metrics.bootstrap import paired_difference
from toolkit.registry import teacher_trait

FINETUNE_BASELINE = "finetune_baseline"


def baseline_names(config: PackConfig, models: Mapping[str, object]) -> list[str]:
    """The run's baselines present in `models`: the plain fine-tune, then the scikit-learn teachers."""
    teachers = [t.name for t in config.teachers if teacher_trait(t.kind, "shippable")]
    return [name for name in [FINETUNE_BASELINE, *teachers] if name in models]


def versus_baselines(
    distilled: Mapping[str, np.ndarray],
    baselines: Mapping[str, Mapping[str, np.ndarray]],
    y: Mapping[str, np.ndarray],
    label_names: list[str],
    seed: int = 0,
) -> list[dict]:
    """One entry per baseline: validation and test macro F1 of the distilled student (probabilities per split) and
    of the baseline, and the test difference (distilled − baseline) with its paired 95% interval; `verdict` says
    whether distillation helped, hurt, or made no clear difference.

    >>> d = {"validation": np.eye(2)[[0, 1]], "test": np.eye(2)[[0, 1, 1]]}
    >>> b = {"validation": np.eye(2)[[0, 0]], "test": np.eye(2)[[0, 0, 1]]}
    >>> y = {"validation": np.array([0, 1]), "test": np.array([0, 1, 1])}
    >>> round(versus_baselines(d, {"b": b}, y, ["x", "y"])[0]["test_difference"]["difference"], 3)
    0.333
    """
    student = distilled
    out = []
    for name, baseline in baselines.items():
        difference = paired_difference(
            y["test"], student["test"].argmax(axis=1), baseline["test"].argmax(axis=1), label_names, seed=seed
        )
        verdict = "helped" if difference["low"] > 0 else "hurt" if difference["high"] < 0 else "no clear difference"
        out.append(
            {
                "baseline": name,
                "validation": {
                    "distilled": macro_f1(y["validation"], student["validation"].argmax(axis=1)),
                    "baseline": macro_f1(y["validation"], baseline["validation"].argmax(axis=1)),
                },
                "test": {
                    "distilled": macro_f1(y["test"], student["test"].argmax(axis=1)),
                    "baseline": macro_f1(y["test"], baseline["test"].argmax(axis=1)),
                },
                "test_difference": difference,
                "verdict": verdict,
            }
        )
    return out


def baseline_markdown(selection: dict | None, versus: list[dict], distilled: str = "student") -> list[str]:
    """The report's section: the recipe candidates on validation, then the deployed model against each baseline."""
    lines = ["## Against the baselines a user would build", ""]
    if selection:
        chosen = next(c for c in selection["candidates"] if c["name"] == selection["chosen"])
        what = (
            "**a scikit-learn baseline, shipped as it is: no transformer candidate beat it on validation** (the "
            "student rows of this report are that model; the compress stage exports it)"
            if selection.get("deployed_teacher")
            else "**the plain fine-tune baseline: no distilled recipe beat it on validation**"
            if selection["baseline_chosen"]
            else "a distilled recipe"
        )
        lines += [
            f"Deployed: **{selection['chosen']}** ({chosen['description']}), {what}. Every candidate below trained on "
            f"the same rows; the best validation {selection['metric']} chose (the test split never does). Selection "
            f"took {selection['seconds']:.0f} s in all.",
            "",
            "| candidate | what it is | added filter samples | validation macro F1 | validation accuracy | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for c in selection["candidates"]:
            mark = " ✓" if c["name"] == selection["chosen"] else ""
            figures = c["validation"]
            f1 = f"{figures['macro_f1']:.3f}" if figures else c["status"]
            accuracy = f"{figures['accuracy']:.3f}" if figures else "—"
            samples = ", ".join(c["samples"]) or "none"
            lines.append(
                f"| {c['name']}{mark} | {c['description']} | {samples} | {f1} | {accuracy} | {c['seconds']:.0f} |"
            )
        lines.append("")
    if versus:
        lines += [
            f"What distillation did: test macro F1 of the best distilled candidate (`{distilled}`) minus each "
            "baseline's, with a paired bootstrap 95% interval:",
            "",
            "| baseline | validation: distilled / baseline | test: distilled / baseline | difference [95% CI] | "
            "distillation |",
            "|---|---|---|---|---|",
        ]
        for v in versus:
            d = v["test_difference"]
            lines.append(
                f"| {v['baseline']} | {v['validation']['distilled']:.3f} / {v['validation']['baseline']:.3f} "
                f"| {v['test']['distilled']:.3f} / {v['test']['baseline']:.3f} "
                f"| {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] | **{v['verdict']}** |"
            )
        better = [v["baseline"] for v in versus if v["validation"]["baseline"] > v["validation"]["distilled"]]
        if better:
            lines += ["", f"**On validation, {', '.join(better)} scored above the best distilled candidate.**"]
    return lines
