"""`domain-distill evaluate --model DIR --data FILE`: any saved model of a run, on new labeled data, with the
run's own data contract and decision policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import toolkit.compress  # noqa: F401 - registers the pruned-model loader: --model may name a pruned variant
from toolkit.config import PackConfig, apply_overrides, validate_pack_config
from toolkit.data.loading import read_table
from toolkit.data.validation import validate_frame
from toolkit.decision.labels import severe_argmax
from toolkit.distill.selection import shipped_teacher
from toolkit.errors import ConfigError
from toolkit.metrics.bootstrap import bootstrap_intervals, confusion, confusion_figures
from toolkit.metrics.classification import classification_metrics
from toolkit.metrics.probabilistic import calibration_metrics, one_vs_rest_auc
from toolkit.run_layout import RunLayout
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_proba


@dataclass(frozen=True)
class SavedModel:
    run_dir: Path
    model_dir: Path
    config: PackConfig
    policy_weights: list[float] | None


def locate(model: Path) -> SavedModel:
    """A run folder (its merged student) or a model folder inside a run; the run gives config and policy."""
    model = Path(model)
    run_dir = next((p for p in (model, *model.parents) if RunLayout(p).manifest.is_file()), None)
    if run_dir is None:
        raise ConfigError(f"{model}: not inside a run folder (no manifest.json above it)", hint="give runs/<name>")
    layout = RunLayout(run_dir)
    model_dir = model if (model / "config.json").is_file() else layout.student_merged
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir}: no saved model here", hint="run the distill stage first")
    manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
    config = validate_pack_config(manifest["config"], f"{layout.manifest} config")
    metrics_path = layout.metrics
    weights = None
    if metrics_path.is_file() and model_dir == layout.student_merged:
        policy = json.loads(metrics_path.read_text(encoding="utf-8"))["models"]["student"].get("policy")
        weights = list(policy["weights"].values()) if policy else None
    return SavedModel(run_dir, model_dir, config, weights)


def evaluate_saved(model: Path, data: Path, resamples: int = 1000, overrides: dict | None = None) -> dict:
    """Figures of the saved model on `data` (validated like training data, with an optional column / label map in
    `overrides`): at the plain argmax, and the run's decision policy against its targets."""
    saved = locate(model)
    config = apply_overrides(saved.config, overrides) if overrides else saved.config
    frame, report, config = validate_frame(read_table(data), config, data)
    report.raise_if_errors()
    labels = config.label_names
    y = frame["label"].map({label: k for k, label in enumerate(labels)}).to_numpy()
    deployed = saved.model_dir == RunLayout(saved.run_dir).student_merged
    teacher = shipped_teacher(saved.run_dir) if deployed else None
    if teacher is not None:  # the run ships a scikit-learn baseline: that is the model to judge
        from toolkit.decision.from_run import deployed_function, field_columns
        from toolkit.run_context import open_run

        probs = deployed_function(open_run(saved.run_dir, log=lambda _: None))(
            frame["input"].tolist(), field_columns(frame, config)
        )
    else:
        classifier = load_classifier(str(saved.model_dir), labels)
        probs = predict_proba(
            classifier, load_tokenizer(str(saved.model_dir)), frame["input"].tolist(), config.student.max_length
        )
    out = {
        "model": f"teacher {teacher} (shipped)" if teacher else str(saved.model_dir),
        "data": str(data),
        "rows": len(frame),
        "dropped": len(report.dropped),
        "argmax": {
            **classification_metrics(y, probs, labels, config.ordinal),
            "auc": one_vs_rest_auc(y, probs, labels),
            "calibration": calibration_metrics(y, probs),
            "intervals": bootstrap_intervals(y, probs.argmax(axis=1), labels, config.ordinal, resamples),
        },
    }
    if saved.policy_weights is not None:
        predicted = severe_argmax(probs * np.asarray(saved.policy_weights)[None, :], config.ordinal)
        figures = confusion_figures(confusion(y, predicted, len(labels)), labels, config.ordinal)
        out["policy"] = {
            "weights": dict(zip(labels, saved.policy_weights, strict=True)),
            "targets": [
                {"target": t.key, "value": figures[t.key], "status": "PASS" if t.is_met(figures[t.key]) else "FAIL"}
                for t in config.targets
            ],
        }
    if deployed:
        deferral = _cascade_on(saved, frame, config, y, resamples)
        if deferral is not None:
            out["deferral"] = deferral
    return out


def _cascade_on(saved: SavedModel, frame, config: PackConfig, y: np.ndarray, resamples: int) -> dict | None:
    """The run's cascade (thresholds, label sets and scope as the evaluate stage tuned them) on the new rows."""
    from toolkit.decision.cascade import Cascade
    from toolkit.decision.evaluation import decisions_report
    from toolkit.decision.from_run import cascade_models, field_columns, load_scope
    from toolkit.decision.serving import run_cascade
    from toolkit.decision.words import deferral_sentence
    from toolkit.run_context import open_run

    metrics_path = RunLayout(saved.run_dir).metrics
    stored = json.loads(metrics_path.read_text(encoding="utf-8")).get("deferral") if metrics_path.is_file() else None
    if not stored:
        return None
    ctx = open_run(saved.run_dir, log=lambda _: None)
    decided = run_cascade(
        Cascade.from_dict(stored["cascade"]),
        cascade_models(ctx),
        frame["input"].tolist(),
        frame["text"].astype(str).tolist(),
        field_columns(frame, config),
        load_scope(ctx),
    )
    test, targets = decisions_report(config, y, decided.decisions, resamples=resamples)
    report = {"test": test, "targets": targets}
    report["sentence"] = deferral_sentence(report, config)
    return report
