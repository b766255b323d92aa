"""Read a run folder's outputs as tables and plots: what the notebooks show after each stage.

Every function takes the run folder (`runs/<name>`) and reads only the files the stages wrote, so a notebook can
inspect a run made from the shell, and the shell a run made from a notebook.

>>> from toolkit.explore import class_balance, teacher_table
>>> class_balance("runs/finance_risk")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toolkit.config import PackConfig, validate_pack_config
from toolkit.data.splits import SPLITS
from toolkit.decision import report as decision_report
from toolkit.errors import ConfigError
from toolkit.metrics.plots import plot_risk_coverage as risk_coverage_figure
from toolkit.metrics.plots import report_figures, risk_coverage_models, subplots
from toolkit.metrics.report import bound_text, domain_table, interval_text
from toolkit.packs import load_pack
from toolkit.run_layout import RunLayout


def _read(path: Path, stage: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{path}: not found; run the {stage} stage first (run(..., until={stage!r}))")
    return path


def _json(path: Path, stage: str) -> dict:
    return json.loads(_read(path, stage=stage).read_text(encoding="utf-8"))


def run_config(run_dir: str | Path) -> PackConfig:
    """The config the run used (the pack's, with the run's overrides and `--fast` reductions applied)."""
    return validate_pack_config(_json(RunLayout(Path(run_dir)).manifest, stage="data")["config"], f"{run_dir} manifest")


def source_file(run_dir: str | Path) -> Path:
    """The labeled file the run read."""
    return Path(_json(RunLayout(Path(run_dir)).manifest, stage="data")["data"])


# ------------------------------------------------------------------------------------------------------- data


def data_contract(pack: str) -> pd.DataFrame:
    """The columns a pack's file needs: role or field type, required or not, allowed values, unit and bands."""
    columns = load_pack(pack).config.columns
    rows = [
        {"column": columns.text, "what": "free text (the model reads it)", "required": True},
        {"column": columns.label, "what": "label: " + ", ".join(load_pack(pack).config.label_names), "required": True},
    ]
    if columns.id:
        rows.append({"column": columns.id, "what": "row id (kept in outputs)", "required": False})
    for field in columns.fields:
        bands = ", ".join(
            f"{b.tag} < {b.below:g}" if b.below is not None else f"{b.tag} > {b.above:g}" for b in field.bands
        )
        rows.append(
            {
                "column": field.name,
                "what": f"{field.type} field" + (f" in {field.unit.strip()}" if field.unit.strip() else ""),
                "required": field.required,
                "allowed": ", ".join(map(str, field.allowed)) if field.allowed else "",
                "rendered with bands": bands,
            }
        )
    return pd.DataFrame(rows).fillna("").set_index("column")


def splits(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The canonical rows of each split: id, text, label, fields, the rendered `input`."""
    return {name: pd.read_parquet(_read(RunLayout(Path(run_dir)).split(name), stage="data")) for name in SPLITS}


def class_balance(run_dir: str | Path) -> pd.DataFrame:
    """Rows per label (in the pack's order) and split, with each label's share of the whole."""
    parts = splits(run_dir)
    labels = _json(RunLayout(Path(run_dir)).manifest, stage="data")["config"]["labels"]
    order = [label["name"] for label in labels]
    table = pd.DataFrame({name: part["label"].value_counts() for name, part in parts.items()}).reindex(order)
    table = table.fillna(0).astype(int)
    table["share"] = (table.sum(axis=1) / table.to_numpy().sum()).round(3)
    return table


def validation_issues(run_dir: str | Path) -> pd.DataFrame:
    """What validation found in the user's file: errors, warnings and dropped rows with row and column."""
    report = _json(RunLayout(Path(run_dir)).validation_report, stage="data")
    return pd.DataFrame(report["issues"], columns=["severity", "message", "row", "column"])


def plot_data(run_dir: str | Path) -> Figure:
    """Rows per label and split, and the length of the model inputs per label (characters)."""
    balance = class_balance(run_dir).drop(columns="share")
    rows = pd.concat(splits(run_dir).values(), ignore_index=True)
    figure, (left, right) = subplots(1, 2, figsize=(10, 3.5))
    balance.plot.bar(ax=left, rot=0)
    left.set_title("rows per label and split")
    for label in balance.index:
        right.hist(rows.loc[rows["label"] == label, "input"].str.len(), bins=30, alpha=0.5, label=label)
    right.set_title("model input length (characters)")
    right.legend()
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------------------------------- teachers


def teacher_table(run_dir: str | Path) -> pd.DataFrame:
    """Each teacher and ensemble: kind, validation macro F1, labeling speed and cache use, ensemble weights."""
    summary = _json(RunLayout(Path(run_dir)).teacher_summary, stage="teachers")
    rows = []
    for name, entry in summary.items():
        if not isinstance(entry, dict):
            continue
        labeling = entry.get("labeling", {})
        rows.append(
            {
                "model": name,
                "kind": entry["kind"],
                "validation macro F1": round(entry["validation_macro_f1"], 3),
                "texts/s": labeling.get("texts_per_second"),
                "from cache": labeling.get("from_cache"),
                "weights": entry.get("weights") or entry.get("base_weights"),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def plot_teachers(run_dir: str | Path) -> Figure:
    """Validation macro F1 of every teacher and ensemble; the student learns from the highlighted one."""
    table = teacher_table(run_dir)
    chosen = _json(RunLayout(Path(run_dir)).teacher_summary, stage="teachers")["student_learns_from"]
    figure, axis = subplots(figsize=(8, 3.2))
    colors = ["#d62728" if name == chosen else "#1f77b4" for name in table.index]
    axis.bar(table.index, table["validation macro F1"], color=colors)
    axis.set_ylim(0, 1)
    axis.set_ylabel("validation macro F1")
    axis.set_title(f"teachers and ensembles (red: the student's soft targets, {chosen})")
    axis.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------------------------------- filter


def filter_summary(run_dir: str | Path) -> dict:
    """The filter stage's summary: reward model accuracy, PPO reward curve, candidates kept and rejected."""
    return _json(RunLayout(Path(run_dir)).filter_summary, stage="filter")


def kept_samples(run_dir: str | Path, top: int = 10) -> pd.DataFrame:
    """The kept candidates with the highest reward: source, the ensemble's label and confidence, the text."""
    kept = pd.read_parquet(_read(RunLayout(Path(run_dir)).kept, stage="filter"))
    columns = [c for c in ("source", "label", "reward", "confidence", "input") if c in kept.columns]
    return kept.sort_values("reward", ascending=False)[columns].head(top).reset_index(drop=True)


def rejected_reasons(run_dir: str | Path) -> pd.Series:
    """How many candidates were rejected for each reason (leakage, copies, below the batch's cut, ...)."""
    rejected = pd.read_parquet(_read(RunLayout(Path(run_dir)).rejected, stage="filter"))
    return rejected["reason"].str.split(":").str[0].value_counts()  # "below this batch's cut: reward 0.38 < 0.78"


def label_issues(run_dir: str | Path, top: int = 10) -> pd.DataFrame:
    """Rows whose gold label the teachers confidently contradict, most confident first (for a person to review)."""
    issues = pd.read_csv(_read(RunLayout(Path(run_dir)).label_issues, stage="filter"))
    return issues.sort_values("margin", ascending=False).head(top).reset_index(drop=True)


def plot_filter(run_dir: str | Path) -> Figure:
    """The generator's mean reward over PPO updates, and why candidates were rejected."""
    log = _json(RunLayout(Path(run_dir)).ppo_log, stage="filter")
    reasons = rejected_reasons(run_dir)
    figure, (left, right) = subplots(1, 2, figsize=(10, 3.5))
    steps = log["steps"]
    left.plot([s["step"] for s in steps], [s["reward"] for s in steps], marker=".")
    left.set_xlabel("PPO update")
    left.set_ylabel("mean reward")
    left.set_title("generator reward over PPO updates")
    right.barh(reasons.index, reasons.to_numpy())
    right.set_title("rejected candidates by reason")
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------------------------------------------- distill


def plot_training(run_dir: str | Path) -> Figure:
    """The student's training loss and validation figures per epoch, and the temperature / alpha schedule."""
    history = _json(RunLayout(Path(run_dir)).student_history, stage="distill")
    schedule = _json(RunLayout(Path(run_dir)).student_schedule, stage="distill")
    figure, (loss_axis, metric_axis, schedule_axis) = subplots(1, 3, figsize=(13, 3.5))
    train = [h for h in history if "loss" in h]
    evals = [h for h in history if "eval_macro_f1" in h]
    loss_axis.plot([h["step"] for h in train], [h["loss"] for h in train], label="training loss")
    loss_axis.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], marker="o", label="validation loss")
    loss_axis.set_xlabel("step")
    loss_axis.legend()
    loss_axis.set_title("loss")
    for key, name in (("eval_macro_f1", "macro F1"), ("eval_critical_recall", "critical recall")):
        if evals and key in evals[0]:
            metric_axis.plot([h["epoch"] for h in evals], [h[key] for h in evals], marker="o", label=name)
    metric_axis.set_xlabel("epoch")
    metric_axis.set_ylim(0, 1)
    metric_axis.legend()
    metric_axis.set_title("validation")
    offset = 0
    for phase, trace in schedule.items():
        steps = [offset + t["step"] for t in trace]
        schedule_axis.plot(steps, [t["temperature"] for t in trace], label=f"{phase}: temperature")
        schedule_axis.plot(steps, [t["alpha"] for t in trace], linestyle="--", label=f"{phase}: alpha")
        offset = steps[-1] + 1 if steps else offset
    schedule_axis.set_xlabel("step")
    schedule_axis.legend(fontsize=7)
    schedule_axis.set_title("temperature and alpha (weight of gold labels)")
    figure.tight_layout()
    return figure


def recipe_selection(run_dir: str | Path) -> pd.DataFrame:
    """Every candidate recipe of the distill stage with its validation figures and wall time; `chosen` marks the
    deployed one (the best on validation; test never chooses)."""
    selection = _json(RunLayout(Path(run_dir)).selection, stage="distill")
    rows = {}
    for c in selection["candidates"]:
        rows[c["name"]] = {
            "what it is": c["description"],
            "added filter samples": ", ".join(c["samples"]) or "none",
            **{f"validation {k.replace('_', ' ')}": round(v, 3) for k, v in c["validation"].items()},
            "seconds": round(c["seconds"]),
            "chosen": "✓" if c["name"] == selection["chosen"] else ("" if c["value"] is not None else c["status"]),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------------- evaluate


def metrics(run_dir: str | Path) -> dict:
    """`report/metrics.json` (schema: toolkit/metrics/report.py `SCHEMA`)."""
    return _json(RunLayout(Path(run_dir)).metrics, stage="evaluate")


def models_table(run_dir: str | Path) -> pd.DataFrame:
    """Every model on test: macro F1 with its interval, accuracy, recall of the critical class, ROC-AUC, ECE."""
    payload = metrics(run_dir)
    critical = payload.get("critical_label")
    rows = {}
    for name, entry in payload["models"].items():
        test = entry["test"]
        interval = test["intervals"]["macro_f1"]
        rows[name] = {
            "role": entry["role"],
            "macro F1": round(test["macro_f1"], 3),
            "95% interval": f"{interval['low']:.3f}–{interval['high']:.3f}",
            "accuracy": round(test["accuracy"], 3),
            **({f"recall {critical}": round(test["per_class"][critical]["recall"], 3)} if critical else {}),
            "ROC-AUC": test["auc"]["macro_roc_auc"],
            "ECE": round(test["calibration"]["ece"], 3),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def versus_baselines(run_dir: str | Path) -> pd.DataFrame:
    """The best distilled candidate against each baseline a user would build: the test macro F1 difference with
    its paired 95% interval (whichever model was deployed)."""
    rows = {}
    for v in metrics(run_dir)["versus_baselines"]:
        d = v["test_difference"]
        rows[v["baseline"]] = {
            "validation: distilled": round(v["validation"]["distilled"], 3),
            "validation: baseline": round(v["validation"]["baseline"], 3),
            "test: distilled": round(v["test"]["distilled"], 3),
            "test: baseline": round(v["test"]["baseline"], 3),
            "difference [95% CI]": f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]",
            "distillation": v["verdict"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def domain_figures(run_dir: str | Path) -> pd.DataFrame:
    """Every model's domain figures on test: under- / over-triage, QWK, expected cost, the pack hook's figures."""
    columns, rows = domain_table(metrics(run_dir)["models"])
    return pd.DataFrame([row[1:] for row in rows], index=[row[0] for row in rows], columns=columns)


def targets_table(run_dir: str | Path) -> pd.DataFrame:
    """The student's targets under its decision policy: bound, validation, test, interval, PASS / FAIL, robust."""
    rows = [
        {
            "target": t["target"],
            "bound": bound_text(t),
            "validation": round(t["validation"], 3),
            "test": round(t["value"], 3),
            "95% interval": interval_text(t["interval"]),
            "status": t["status"],
            "robust": t["robust"],
        }
        for t in metrics(run_dir)["targets"]
    ]
    return pd.DataFrame(rows).set_index("target")


def evaluation_figures(run_dir: str | Path) -> list[tuple[Figure, str]]:
    """The report's plots (the same as in report.html) with their captions."""
    payload = metrics(run_dir)
    index = {label: k for k, label in enumerate(payload["labels"])}
    y_test = pd.read_parquet(_read(RunLayout(Path(run_dir)).split("test"), stage="data"))["label"].map(index).to_numpy()
    with np.load(_read(RunLayout(Path(run_dir)).student_probs, stage="distill")) as stored:
        probs = stored["test"]
    return report_figures(payload, y_test, probs)


# ------------------------------------------------------------------------------------------- defer when unsure


def _deferral(run_dir: str | Path) -> dict:
    payload = metrics(run_dir)
    if "deferral" not in payload:
        raise ConfigError(f"{run_dir}: this run's evaluation has no cascade (deferral.enabled is false)")
    return payload


def deferral_summary(run_dir: str | Path) -> str:
    """The cascade's result on test in the pack's words: how many cases it answers, how safely, who takes the rest."""
    return _deferral(run_dir)["deferral"]["sentence"]


def _frame(table: tuple[list[str], list[list[str]]]) -> pd.DataFrame:
    columns, rows = table
    return pd.DataFrame([row[1:] for row in rows], index=[row[0] for row in rows], columns=columns[1:])


def cascade_table(run_dir: str | Path) -> pd.DataFrame:
    """Coverage and the figures among answered cases on test, with 95% intervals, next to validation."""
    payload = _deferral(run_dir)
    return _frame(decision_report.cascade_table(payload["deferral"], payload.get("critical_label")))


def deferral_targets(run_dir: str | Path) -> pd.DataFrame:
    """The deferral targets among answered cases: validation, test, interval, PASS / FAIL, robust."""
    return _frame(decision_report.targets_table(_deferral(run_dir)["deferral"]))


def referred_cases(run_dir: str | Path) -> pd.DataFrame:
    """Per true class: how many test cases the cascade referred to a person, and why."""
    return _frame(decision_report.referred_table(_deferral(run_dir)["deferral"]))


def label_sets(run_dir: str | Path) -> pd.DataFrame:
    """Each class's conformal label-set coverage on test against its 1 − α."""
    return _frame(decision_report.label_set_table(_deferral(run_dir)["deferral"]))


def plot_risk_coverage(run_dir: str | Path) -> Figure:
    """Risk–coverage on test of the student, the ensemble it learned from and the single-model baselines."""
    models = metrics(run_dir)["models"]
    return risk_coverage_figure(models, risk_coverage_models(models), metrics(run_dir).get("critical_label"))


# --------------------------------------------------------------------------------------------------- compress


def compression_table(run_dir: str | Path) -> pd.DataFrame:
    """Every exported variant (and the teacher ensemble): size, test quality, CPU latency, which one is deployed."""
    payload = _json(RunLayout(Path(run_dir)).export_metrics, stage="compress")
    critical = payload.get("critical_label")
    rows = {}
    ensemble = payload.get("teacher_ensemble")
    if ensemble:
        rows["teacher ensemble"] = {
            "size MB": round(ensemble["size_bytes"] / 1e6, 1),
            "p50 ms": ensemble["latency"]["p50_ms"],
            "p95 ms": ensemble["latency"]["p95_ms"],
            "texts/s": ensemble["latency"]["throughput_per_s"],
        }
    for name, entry in payload["models"].items():
        test = entry["test"]
        rows[name] = {
            "size MB": round(entry["size_bytes"] / 1e6, 1),
            "macro F1": round(test["macro_f1"], 3),
            **({f"recall {critical}": round(test["per_class"][critical]["recall"], 3)} if critical else {}),
            "p50 ms": entry["latency"]["p50_ms"],
            "p95 ms": entry["latency"]["p95_ms"],
            "texts/s": entry["latency"]["throughput_per_s"],
            "deployed": name == payload["chosen"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")
