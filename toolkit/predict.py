"""Predict with a deployed student: one row in Python, or a whole CSV / JSONL file streamed in chunks.

Rows follow the training data's contract (same columns, the same column map); each gets a `decision` (a label, or
`refer` to a person), its `reason` (confident / low_confidence / label_set / out_of_scope, with a `detail`), the
conformal `label_set`, who answered (student / ensemble / person), the class-weight policy's label, the argmax label
and the probabilities. A malformed row (a broken CSV line, bad JSON, an
empty text, a value a field does not allow) is reported with its row and column and the file goes on. Output is
written chunk by chunk with a progress record, so a crashed or killed prediction resumes where it stopped.

>>> predictor = Predictor.load("runs/finance_risk/export")  # doctest: +SKIP
>>> predictor.predict({"narrative": "Wire to a new overseas account", "amount": 25000}).decision  # doctest: +SKIP
'high'
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.compress.runtime import Classifier, load_variant, softmax
from toolkit.config import PackConfig, validate_pack_config
from toolkit.data.column_map import apply_input_map
from toolkit.data.loading import FORMATS, TableFile, open_table
from toolkit.data.rendering import render_row
from toolkit.data.validation import ValidationReport, check_field, check_texts
from toolkit.decision.cascade import Cascade
from toolkit.decision.confidence import NEEDS_TEACHERS
from toolkit.decision.labels import severe_argmax
from toolkit.decision.scope import ScopeModel
from toolkit.decision.serving import CascadeModels, CombineFn, TeachersFn, run_cascade
from toolkit.errors import ConfigError, DataError
from toolkit.manifest import file_digest
from toolkit.run_layout import DEPLOY_FILE, SCOPE_FILE, RunLayout
from toolkit.safe_io import atomic_write_json, refuse_overwrite

INPUT_FORMATS = (".csv", ".jsonl")
MAX_ERRORS_KEPT = 20  # in the summary; every malformed row's message is in the output's `error` column


REFER = "refer"
DECISION_COLUMNS = ("decision", "reason", "detail", "label_set", "answered_by", "policy_label", "argmax_label")


@dataclass(frozen=True)
class Prediction:
    decision: str  # what to act on: a label, or `refer` (a person decides)
    reason: str  # confident | low_confidence | label_set | out_of_scope
    detail: str  # the reason in words (e.g. which scope check failed)
    label_set: list[str]  # the conformal label set of the model that answered (the student's when referred)
    answered_by: str  # student | ensemble | person
    policy_label: str  # the class-weight policy's label (every row answered; see report/report.md)
    argmax_label: str  # the most probable label
    probabilities: dict[str, float]


@dataclass
class PredictSummary:
    rows: int = 0
    predicted: int = 0
    malformed: int = 0
    first_errors: list[str] = field(default_factory=list)  # "row 7, column 'amount': 'abc' is not a number ..."
    resumed_after: int = 0  # rows already done by an earlier, interrupted run
    labels: dict[str, int] = field(default_factory=dict)
    output: Path | None = None


def _deploy_file(path: Path) -> tuple[Path, str | None]:
    """deploy.json for an export folder, a run folder, or one variant folder inside an export folder."""
    path = Path(path)
    for folder, variant in ((path, None), (RunLayout(path).export, None), (path.parent, path.name)):
        if (folder / DEPLOY_FILE).is_file():
            return folder / DEPLOY_FILE, variant
    raise ConfigError(
        f"{path}: no {DEPLOY_FILE} here, in {path / 'export'} or in {path.parent}",
        hint="give runs/<name>/export (written by `domain-distill compress`), or a variant folder inside it",
    )


@dataclass(frozen=True)
class Rendered:
    """Rows made ready for the models: model inputs (None where a row breaks the contract), each bad row's message
    by position, ids, the free texts and the structured fields (for the scope check and the teachers)."""

    inputs: list[str | None]
    errors: dict[int, str]
    ids: list[object]
    texts: list[str]
    fields: pd.DataFrame | None


def _run_folder(export_dir: Path, deploy: dict) -> Path | None:
    """The run an export came from: the folder around it, or the one deploy.json names, if it is still there."""
    for folder in (export_dir.parent, Path(deploy.get("run", ""))):
        layout = RunLayout(folder)
        if layout.manifest.is_file() and layout.teachers.is_dir():
            return folder
    return None


def _served_teachers(export_dir: Path, deploy: dict, cascade: Cascade | None) -> tuple[TeachersFn, CombineFn] | None:
    """The run's teachers and ensemble rule, when the cascade asks them and the run folder is at hand."""
    if cascade is None or not deploy.get("ensemble_served"):
        return None
    if not (cascade.uses_ensemble or cascade.student.score in NEEDS_TEACHERS):
        return None
    folder = _run_folder(export_dir, deploy)
    if folder is None:
        if cascade.student.score in NEEDS_TEACHERS:
            raise ConfigError(
                f"{export_dir}: the deployed cascade scores confidence by teacher agreement, and the run folder "
                "with its teachers is not next to the export",
                hint="keep the export inside its run folder (runs/<name>/export), or re-run compress",
            )
        return None  # the ensemble step is skipped: rows it would answer are referred
    from toolkit.decision.from_run import served_teachers
    from toolkit.run_context import open_run

    return served_teachers(open_run(folder, log=lambda _: None))


class Predictor:
    """The exported classifier, its data contract, its decision policy and its cascade (student → teacher ensemble
    → person, with conformal label sets and the scope check).

    >>> predictor = Predictor.load("runs/medical_triage/export")  # doctest: +SKIP
    >>> predictor.predict({"complaint": "crushing chest pain", "age": 71, "spo2": 89}).decision  # doctest: +SKIP
    'emergent'
    """

    def __init__(
        self,
        classifier: Classifier,
        config: PackConfig,
        weights: Sequence[float],
        variant: str,
        cascade: Cascade | None = None,
        scope: ScopeModel | None = None,
        teachers: tuple[TeachersFn, CombineFn] | None = None,
        identity: str | None = None,
    ):
        self.classifier, self.config, self.variant = classifier, config, variant
        self.identity = identity or variant  # what a resumed prediction must have been made with
        self.labels = config.label_names
        self.weights = np.asarray(weights, dtype=float)
        self.cascade, self.scope = cascade, scope
        self.models = CascadeModels(self.probabilities, *teachers) if teachers else CascadeModels(self.probabilities)

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, ensemble: bool = True) -> Predictor:
        """From `runs/<name>/export` (its chosen variant), the run folder, or a variant folder in the export.
        `ensemble=False` leaves the teacher ensemble out: rows it would answer go to a person instead."""
        deploy_path, variant = _deploy_file(Path(path))
        deploy = json.loads(deploy_path.read_text(encoding="utf-8"))
        config = validate_pack_config(deploy["config"], f"{deploy_path} config")
        variant = variant or deploy["variant"]
        weights = deploy["policies"].get(variant)
        if weights is None:
            raise ConfigError(f"{deploy_path}: no variant {variant!r}; variants: {', '.join(deploy['policies'])}")
        export = deploy_path.parent
        classifier = load_variant(export / variant, config.label_names, config.student.max_length, threads)
        stored = deploy.get("cascades", {}).get(variant)
        cascade = Cascade.from_dict(stored) if stored else None
        scope_path = export / SCOPE_FILE
        scope = (
            ScopeModel.from_dict(json.loads(scope_path.read_text(encoding="utf-8"))) if scope_path.is_file() else None
        )
        teachers = _served_teachers(export, deploy, cascade) if ensemble else None
        if cascade is not None and cascade.student.score in NEEDS_TEACHERS and teachers is None:
            raise ConfigError(
                f"{export}: the deployed cascade scores the student's confidence by agreement with the teachers, so it "
                "cannot run without them",
                hint="drop --no-ensemble, or set deferral.scores=[top_probability, margin] and re-run the run's "
                "evaluate and compress stages for a cascade without teachers",
            )
        return cls(
            classifier,
            config,
            [weights[label] for label in config.label_names],
            variant,
            cascade,
            scope,
            teachers,
            identity=f"{variant} of {deploy_path} ({file_digest(deploy_path)})",
        )

    def probabilities(self, inputs: Sequence[str], fields: pd.DataFrame | None = None) -> np.ndarray:
        """Class probabilities for rendered model inputs (and their structured fields, for a tabular model)."""
        return softmax(self.classifier.logits(list(inputs), fields))

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Label indices under the class-weight policy (probability × weight, tuned on validation; ordinal ties go
        to the more severe level)."""
        return severe_argmax(probs * self.weights[None, :], self.config.ordinal)

    def predict_rendered(self, rendered: Rendered, valid: list[int]) -> list[Prediction]:
        """Predictions for the rows at positions `valid` of `rendered` (rows that kept the data contract)."""
        if not valid:
            return []
        inputs = [rendered.inputs[i] for i in valid]
        texts = [rendered.texts[i] for i in valid]
        fields = None if rendered.fields is None else rendered.fields.iloc[valid].reset_index(drop=True)
        if self.cascade is not None:
            out = run_cascade(self.cascade, self.models, inputs, texts, fields, self.scope)
            probs, decisions, details = out.student_probs, out.decisions, out.scope_reasons
        else:
            probs, decisions, details = self.probabilities(inputs, fields), None, [None] * len(inputs)
        policy = self.decide(probs)
        results = []
        for k, p in enumerate(probs):
            if decisions is None:
                label = self.labels[int(policy[k])]
                decision, reason, who, members = label, "confident", "student", [label]
            else:
                index = int(decisions.labels[k])
                decision = REFER if index < 0 else self.labels[index]
                reason, who = str(decisions.reasons[k]), str(decisions.answered_by[k])
                members = [x for x, held in zip(self.labels, decisions.label_sets[k], strict=True) if held]
            results.append(
                Prediction(
                    decision=decision,
                    reason=reason,
                    detail=details[k] or REASON_WORDS[reason],
                    label_set=members,
                    answered_by=who,
                    policy_label=self.labels[int(policy[k])],
                    argmax_label=self.labels[int(severe_argmax(p[None, :], self.config.ordinal)[0])],
                    probabilities={label: round(float(v), 6) for label, v in zip(self.labels, p, strict=True)},
                )
            )
        return results

    def predict(self, row: str | Mapping[str, object]) -> Prediction:
        """One row (a mapping of the file's columns) or one free text; a bad row raises DataError saying why."""
        record = {self.config.columns.text: row} if isinstance(row, str) else dict(row)
        rendered = self.render([record], "input", row_numbers=[1])
        if rendered.errors:
            raise DataError(rendered.errors[0])
        return self.predict_rendered(rendered, [0])[0]

    def render(self, records: list[dict], source: str, row_numbers: Sequence[int]) -> Rendered:
        """`records` made ready for the models; `row_numbers` number the rows in the user's file, for messages."""
        frame = pd.DataFrame.from_records(records)
        # the run's column map applies to the user's column names; a row may also use the pack's own names
        mapped = {k: v for k, v in self.config.input_map.columns.items() if k == "*" or k in frame.columns}
        config = self.config.model_copy(
            update={"input_map": self.config.input_map.model_copy(update={"columns": mapped})}
        )
        raw, config, _ = apply_input_map(frame, config, source)
        raw = raw.reset_index(drop=True)
        text_column = config.columns.text
        if text_column not in raw.columns:
            raw[text_column] = None
        report = ValidationReport(source=source, rows_read=len(raw))
        bad: set[int] = set()
        check_texts(raw[text_column], config, report, bad)
        fields = {spec.name: check_field(raw, spec, report, bad).tolist() for spec in config.columns.fields}
        errors: dict[int, str] = {}
        for issue in report.errors:
            position = issue.row - 1
            where = f"row {row_numbers[position]}" + (f", column {issue.column!r}" if issue.column else "")
            errors[position] = f"{errors[position]}; " if position in errors else ""
            errors[position] += f"{where}: {issue.message}"
        texts = raw[text_column].tolist()
        inputs = [
            None
            if i in errors
            else render_row(
                texts[i], {name: values[i] for name, values in fields.items()}, config.columns.fields, config.render
            )
            for i in range(len(raw))
        ]
        id_column = config.columns.id
        ids = raw[id_column].tolist() if id_column and id_column in raw.columns else [None] * len(raw)
        field_frame = pd.DataFrame(fields) if fields else None
        return Rendered(inputs, errors, ids, ["" if t is None else str(t) for t in texts], field_frame)


REASON_WORDS = {
    "confident": "the model is confident (at or above its threshold, tuned on validation)",
    "low_confidence": "below the confidence thresholds of the student and of the ensemble",
    "label_set": "the conformal label set holds the critical level",
    "out_of_scope": "unlike the training data",
}


# ----------------------------------------------------------------------------------------------- files


class _Writer:
    """CSV or JSONL output, appended chunk by chunk; `<output>.progress` records the rows and bytes committed, and
    what they were computed from (the input's digest and the model), so a resume never mixes two inputs or models."""

    def __init__(self, path: Path, columns: list[str], identity: dict):
        self.path, self.columns, self.identity = path, columns, identity
        self.progress_path = path.with_name(path.name + ".progress")
        self.jsonl = path.suffix.lower() == ".jsonl"

    def resume_point(self, force: bool) -> int:
        """Rows already written by an interrupted run of the same input and model (the file is cut back to its last
        committed chunk); 0 for a fresh start, which an existing output allows only with `force`."""
        if force:
            self.path.unlink(missing_ok=True)
            self.progress_path.unlink(missing_ok=True)
            return 0
        if not self.progress_path.is_file():
            refuse_overwrite(self.path, force)
            return 0
        done = json.loads(self.progress_path.read_text(encoding="utf-8"))
        if done.get("identity") != self.identity:
            raise DataError(
                f"{self.progress_path}: an interrupted prediction of another input or model "
                f"({done.get('identity', 'unrecorded')}); it is not resumed with {self.identity}",
                hint="add --force to start again (the partial output is replaced), or give another --output",
            )
        if not self.path.is_file():
            return 0
        with self.path.open("r+b") as handle:
            handle.truncate(done["bytes"])
        return int(done["rows"])

    def write(self, rows: list[dict], rows_done: int) -> None:
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            if self.jsonl:
                handle.writelines(json.dumps(row) + "\n" for row in rows)
            else:
                writer = csv.DictWriter(handle, fieldnames=self.columns)
                if new:
                    writer.writeheader()
                writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        atomic_write_json(self.progress_path, {"rows": rows_done, "bytes": size, "identity": self.identity})

    def finish(self) -> None:
        self.progress_path.unlink(missing_ok=True)


def default_output(input_path: Path) -> Path:
    return input_path.with_name(f"{input_path.stem}.predictions{input_path.suffix.lower()}")


def predict_file(
    predictor: Predictor,
    input_path: str | Path,
    output_path: str | Path | None = None,
    chunk_rows: int = 1024,
    show_progress: bool = True,
    force: bool = False,
) -> PredictSummary:
    """Stream `input_path` (CSV or JSONL) through the predictor into `output_path` (CSV or JSONL, by suffix). An
    interrupted prediction of the same input and model resumes; an existing output is replaced only with `force`,
    and the input never is."""
    table = open_table(input_path, allowed={s: FORMATS[s] for s in INPUT_FORMATS})
    output = Path(output_path) if output_path else default_output(table.path)
    if output.suffix.lower() not in INPUT_FORMATS:
        raise DataError(f"{output}: unsupported output type {output.suffix!r}; allowed: {', '.join(INPUT_FORMATS)}")
    refuse_overwrite(output, force=True, inputs=[table.path])
    labels = predictor.labels
    id_column = predictor.config.columns.id
    columns = ["row", *([id_column] if id_column else []), *DECISION_COLUMNS, *(f"p_{x}" for x in labels)]
    identity = {"input": file_digest(table.path), "model": predictor.identity}
    writer = _Writer(output, [*columns, "error"], identity)
    summary = PredictSummary(output=output, labels=dict.fromkeys([*labels, REFER], 0))
    summary.resumed_after = writer.resume_point(force)
    if table.kind == "CSV":
        _check_header(predictor, table)
    from rich.progress import Progress, TextColumn  # a spinner with counts: the file's length is not known

    with Progress(TextColumn("{task.description}"), disable=not show_progress, transient=True) as bar:
        task = bar.add_task("predicting")
        for first, records, parse_errors in table.chunks(chunk_rows):
            last = first + len(records) - 1
            summary.rows = last
            if last <= summary.resumed_after:
                continue
            rows = _predict_chunk(predictor, table.path, first, records, parse_errors, id_column, summary)
            writer.write(rows, last)
            bar.update(task, description=f"predicting: {last:,} rows, {summary.malformed:,} malformed")
    writer.finish()
    return summary


def _check_header(predictor: Predictor, table: TableFile) -> None:
    """A CSV without the text column (under its own name or mapped) is one error, not one per row."""
    header = table.columns
    mapping = predictor.config.input_map.columns
    text = predictor.config.columns.text
    if "*" not in mapping and not ({text, "text"} & {mapping.get(h, h) for h in header}):
        raise DataError(
            f"{table.path}: no column {text!r} for the text"
            + (" (nor one mapped to it)" if mapping else "")
            + f"; columns found: {header}",
            hint="use the training data's columns, or the column map the run was trained with",
        )


def _predict_chunk(
    predictor: Predictor,
    source: Path,
    first: int,
    records: list[dict | None],
    parse_errors: dict[int, str],
    id_column: str | None,
    summary: PredictSummary,
) -> list[dict]:
    good = [i for i, record in enumerate(records) if record is not None]
    rendered = predictor.render([records[i] for i in good], str(source), [first + i for i in good])
    ids = dict(zip(good, rendered.ids, strict=True))
    errors = {good[k]: message for k, message in rendered.errors.items()} | parse_errors
    valid = [k for k, text in enumerate(rendered.inputs) if text is not None]
    results = dict(zip((good[k] for k in valid), predictor.predict_rendered(rendered, valid), strict=True))
    rows = []
    for i in range(len(records)):
        row: dict = {"row": first + i}
        if id_column:
            row[id_column] = ids.get(i)
        if i in results:
            prediction = results[i]
            summary.labels[prediction.decision] += 1
            summary.predicted += 1
            row |= {column: getattr(prediction, column) for column in DECISION_COLUMNS}
            row["label_set"] = "|".join(prediction.label_set)
            row |= {f"p_{x}": v for x, v in prediction.probabilities.items()}
        else:
            summary.malformed += 1
            if len(summary.first_errors) < MAX_ERRORS_KEPT:
                summary.first_errors.append(errors[i])
            row["error"] = errors[i]
        rows.append(row)
    return rows
