"""The `domain-distill` command. Sub-commands mirror the user's path; bad input is one red line and exit code 2."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from toolkit import __version__
from toolkit.data.column_map import input_map_overrides
from toolkit.errors import UserInputError
from toolkit.logs import show_logs
from toolkit.run_layout import RunLayout
from toolkit.safe_io import atomic_path, atomic_write_text, refuse_overwrite

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Distil big teachers into a small, measured classifier for your domain (finance risk, medical triage).",
)
console = Console()
errors = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"domain-distill {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show debug messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show warnings and errors only."),
) -> None:
    """Distil big teachers into a small, measured classifier for your domain."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler = logging.StreamHandler(sys.stdout)  # a file or pipe gets plain lines, not padded ones
    if console.is_terminal:
        handler = RichHandler(console=console, show_time=False, show_level=verbose, show_path=False, markup=False)
        handler.highlighter = None
    show_logs(level, handler)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a UserInputError into one red line plus a hint, exit code 2, and no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserInputError as error:
            errors.print(f"[bold red]error:[/] {error.message}", highlight=False, soft_wrap=True)
            if error.hint:
                errors.print(f"[dim]hint: {error.hint}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _parse_overrides(values: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set distill.epochs=4")
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw
    return overrides


MAP_HELP = "Your columns -> roles (text, label, id, group, split) or pack fields, e.g. 'complaint=text,acuity=label'."
LABELS_HELP = "Your label spellings -> the pack's labels, e.g. '1=emergent,2=emergent,3=urgent'."
DROP_HELP = "Drop rows with an empty label (each is listed in the report) instead of stopping on them."
CONFLICT_HELP = "Drop every row of an input that carries two labels (each is listed) instead of stopping on them."


@app.command()
@friendly_errors
def run(
    domain: str = typer.Option(..., "--domain", "-d", help="Pack name, e.g. finance_risk or medical_triage."),
    data: Path | None = typer.Option(
        None, "--data", help="Your labeled CSV / JSONL / Parquet (default: the pack's example data)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: runs/<domain>)."),
    fast: bool = typer.Option(False, "--fast", help="Small settings: a whole run in a few minutes on 2 CPU cores."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed for splits and training (default: the pack's split.seed)."
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set distill.temperature=3."),
    column_map: str | None = typer.Option(None, "--map", help=MAP_HELP),
    label_map: str | None = typer.Option(None, "--labels", help=LABELS_HELP),
    drop_unlabeled: bool = typer.Option(False, "--drop-unlabeled", help=DROP_HELP),
    drop_conflicts: bool = typer.Option(False, "--drop-conflicts", help=CONFLICT_HELP),
    preferences: Path | None = typer.Option(
        None, "--preferences", help="JSONL of {prompt, chosen, rejected[, label]} pairs for the reward model."
    ),
    unlabeled: Path | None = typer.Option(
        None, "--unlabeled", help="A pool of unlabeled rows (your columns, no label) for the filter stage."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Stop after this stage: data, teachers, filter, distill, evaluate or compress."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads of every pool (default: the cores this process may use)."
    ),
    profile: bool = typer.Option(False, "--profile", help="Break the filter, distill and compress times into steps."),
) -> None:
    """Run the whole path: data -> teachers -> filter -> distill -> evaluate -> compress. Unchanged stages are
    skipped."""
    from toolkit.pipeline import RunRequest
    from toolkit.pipeline import run as run_pipeline

    started = time.perf_counter()
    overrides = {
        **_parse_overrides(set_),
        **input_map_overrides(column_map, label_map, drop_unlabeled, drop_conflicts),
        **({"filter.preferences": str(preferences)} if preferences else {}),
        **({"filter.unlabeled": str(unlabeled)} if unlabeled else {}),
    }
    request = RunRequest(
        domain=domain, data=data, out=out, fast=fast, seed=seed, overrides=overrides, threads=threads, profile=profile
    )
    result = run_pipeline(request, until=until)
    from toolkit.distributed import is_main_process

    if not is_main_process():
        return
    console.print(f"\n[bold green]done[/] in {time.perf_counter() - started:.0f} s")
    if result.metrics is not None and "timings" in result.metrics:
        shares = ", ".join(
            f"{e['stage']} {e['seconds']:.0f} s" for e in result.metrics["timings"]["stages"] if e["ran"]
        )
        console.print(f"stages: {shares}")
    if result.metrics is not None:
        console.print(f"report:  {result.report_path}")
        console.print(f"metrics: {RunLayout(result.run_dir).metrics}")
    if RunLayout(result.run_dir).compression_report.is_file():
        console.print(f"export:  {RunLayout(result.run_dir).export} (compression.md, deploy.json)")


@app.command()
@friendly_errors
def compress(
    run_dir: Path = typer.Option(..., "--run", help="A run folder with a trained student, e.g. runs/finance_risk."),
    set_: list[str] = typer.Option([], "--set", help="Override a compress key, e.g. --set compress.prune.budget=0.3."),
    remeasure: bool = typer.Option(False, "--remeasure", help="Time and evaluate the built variants again."),
    domain: str | None = typer.Option(
        None, "--domain", "-d", help="The pack to use (name or folder); default: the installed pack of the run's name."
    ),
) -> None:
    """Merge LoRA, prune attention heads, quantize (INT8 / ONNX / INT4), measure CPU latency, pick the variant."""
    from toolkit.pipeline import compress_run

    export = compress_run(run_dir, _parse_overrides(set_), remeasure=remeasure, pack=domain)
    console.print(f"\n[bold green]done[/]: {export / 'compression.md'}")


@app.command()
@friendly_errors
def predict(
    model: Path = typer.Option(..., "--model", help="runs/<name>/export (its chosen variant) or a variant folder."),
    input_file: Path = typer.Option(..., "--input", help="CSV or JSONL with the training data's columns."),
    output: Path | None = typer.Option(None, "--output", help="CSV or JSONL (default: <input>.predictions.<ext>)."),
    chunk_rows: int = typer.Option(1024, "--chunk-rows", min=1, help="Rows read, predicted and written at a time."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: every core)."),
    ensemble: bool = typer.Option(
        True, "--ensemble/--no-ensemble", help="Ask the run's teacher ensemble where the student is unsure."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output (the input is never replaced)."),
) -> None:
    """Predict a file, streamed: per row a `decision` (a label, or `refer` to a person) with its reason, the label
    set, who answered, the argmax label and the probabilities. Malformed rows are reported and skipped; an
    interrupted run of the same input and model resumes where it stopped."""
    from toolkit.compress.latency import set_threads
    from toolkit.predict import Predictor, predict_file

    set_threads(threads)
    predictor = Predictor.load(model, threads=threads, ensemble=ensemble)
    summary = predict_file(predictor, input_file, output, chunk_rows=chunk_rows, force=force)
    if summary.resumed_after:
        console.print(f"resumed after row {summary.resumed_after:,} (an earlier run was interrupted)")
    counts = ", ".join(f"{label} {n:,}" for label, n in summary.labels.items())
    console.print(f"{summary.rows:,} rows: {summary.predicted:,} predicted ({counts}) with `{predictor.variant}`")
    if summary.malformed:
        errors.print(f"[yellow]{summary.malformed:,} malformed row(s) skipped[/]; the first:", highlight=False)
        for message in summary.first_errors[:5]:
            errors.print(f"  {message}", highlight=False, markup=False)
    console.print(f"written: {summary.output}")


@app.command()
@friendly_errors
def validate(
    file: Path = typer.Argument(..., help="The labeled file to check."),
    domain: str = typer.Option(..., "--domain", "-d", help="Pack whose data contract applies."),
    column_map: str | None = typer.Option(None, "--map", help=MAP_HELP),
    label_map: str | None = typer.Option(None, "--labels", help=LABELS_HELP),
    drop_unlabeled: bool = typer.Option(False, "--drop-unlabeled", help=DROP_HELP),
    drop_conflicts: bool = typer.Option(False, "--drop-conflicts", help=CONFLICT_HELP),
    report_file: Path | None = typer.Option(None, "--report", help="Also write the full report as JSON here."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --report file."),
) -> None:
    """Check a labeled file against a pack's data contract and list every problem with its row and column."""
    from toolkit.config import apply_overrides
    from toolkit.data.loading import read_table
    from toolkit.data.validation import check_truncation, validate_frame
    from toolkit.packs import load_pack

    pack = load_pack(domain)
    config = apply_overrides(
        pack.config, input_map_overrides(column_map, label_map, drop_unlabeled, drop_conflicts), "options"
    )
    frame, report, config = validate_frame(read_table(file), config, file)
    if not report.errors:
        from toolkit.transformer_models import load_tokenizer

        check_truncation(frame, config, report, load_tokenizer(config.student.model))
    if report_file:
        refuse_overwrite(report_file, force, inputs=[file])
        atomic_write_text(report_file, json.dumps(report.to_dict(), indent=2))
    for note in report.notes:
        console.print(f"[dim]map[/] {note}", highlight=False, soft_wrap=True)
    for issue in report.issues:
        colour = {"error": "red", "warning": "yellow", "dropped": "cyan"}[issue.severity]
        console.print(f"[{colour}]{issue.severity}[/] {issue.describe(str(file))}", highlight=False, soft_wrap=True)
    console.print(
        f"{report.rows_read} rows read, {report.rows_kept} kept, {len(report.dropped)} dropped, "
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    if report.errors:
        raise typer.Exit(code=2)
    counts = frame["label"].value_counts()
    table = Table("label", "rows", title="class balance")
    for label in config.label_names:
        table.add_row(label, str(int(counts.get(label, 0))))
    console.print(table)


@app.command("example-data")
@friendly_errors
def example_data(
    domain: str = typer.Option(..., "--domain", "-d"),
    rows: int | None = typer.Option(None, "--rows", min=10, help="Default: the generator's own (the committed size)."),
    seed: int | None = typer.Option(None, "--seed"),
    out: Path | None = typer.Option(None, "--out", help="Folder (default: data_templates/<domain>)."),
    force: bool = typer.Option(False, "--force", help="Replace template files that exist in the folder."),
) -> None:
    """(Re)generate a pack's data templates and example data with its seeded generator."""
    from toolkit.data.templates import TEMPLATE_FILES, write_templates
    from toolkit.packs import load_pack

    pack = load_pack(domain)
    folder = out or pack.resolve_path(f"data_templates/{pack.name}")
    for name in TEMPLATE_FILES:
        refuse_overwrite(folder / name, force)
    for path in write_templates(pack, folder, rows=rows, seed=seed):
        console.print(f"wrote {path}")


@app.command()
@friendly_errors
def label(
    run_dir: Path = typer.Option(..., "--run", help="A run folder whose teachers are fitted."),
    teacher: str = typer.Option(..., "--teacher", help="Which of the run's teachers labels the pool."),
    input_path: Path = typer.Option(..., "--input", help="Unlabeled CSV / JSONL / Parquet (same columns, no label)."),
    output: Path = typer.Option(Path("pool_labels.parquet"), "--output", help="Where to write the probabilities."),
    domain: str | None = typer.Option(
        None, "--domain", "-d", help="The pack to use (name or folder); default: the installed pack of the run's name."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
) -> None:
    """Label an unlabeled pool with a fitted teacher, through the run's cache (resumable; under `accelerate launch`
    each process labels a share and the main process writes the file)."""
    from toolkit.distributed import is_main_process
    from toolkit.teachers.pool import label_pool

    refuse_overwrite(output, force, inputs=[input_path])
    result = label_pool(run_dir, teacher, input_path, pack=domain)
    if is_main_process():
        with atomic_path(output) as temporary:
            result.frame.to_parquet(temporary, index=False)
        s = result.stats
        console.print(
            f"labeled {s.texts} rows ({s.from_cache} from cache, {s.computed} computed"
            f"{f', {s.texts_per_second:,.1f} texts/s' if s.computed else ''}) -> {output}"
        )


@app.command()
@friendly_errors
def init(
    name: str = typer.Argument(..., help="New pack name, e.g. insurance_claims."),
    labels: str = typer.Option(..., "--labels", help="Comma-separated labels, in order, e.g. 'routine,review,fraud'."),
    critical: str | None = typer.Option(None, "--critical", help="The label that must not be missed (default: last)."),
    ordinal: bool = typer.Option(False, "--ordinal", help="Labels are ordered (e.g. severity levels)."),
    folder: Path = typer.Option(Path("domains"), "--dir", help="Where packs live."),
) -> None:
    """Scaffold a new domain pack: pack.yaml, example-data generator, rule teacher, README."""
    from toolkit.scaffold import scaffold_pack

    target = scaffold_pack(name, folder, [x.strip() for x in labels.split(",") if x.strip()], critical, ordinal)
    console.print(f"created {target}; next: domain-distill example-data --domain {name}")


@app.command()
@friendly_errors
def evaluate(
    model: Path = typer.Option(..., "--model", help="A run folder (its student) or a model folder inside a run."),
    data: Path = typer.Option(..., "--data", help="Labeled CSV / JSONL / Parquet with the run's columns."),
    output: Path | None = typer.Option(None, "--output", help="Write the figures as JSON here."),
    column_map: str | None = typer.Option(None, "--map", help=MAP_HELP),
    label_map: str | None = typer.Option(None, "--labels", help=LABELS_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
) -> None:
    """Evaluate a saved model on new labeled data: per-class figures with intervals, and the run's policy targets."""
    from toolkit.metrics.evaluate_saved import evaluate_saved

    if output:
        refuse_overwrite(output, force, inputs=[data])
    result = evaluate_saved(model, data, overrides=input_map_overrides(column_map, label_map, False))
    table = Table(title=f"{result['model']} on {result['data']} ({result['rows']} rows)")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column)
    for label, c in result["argmax"]["per_class"].items():
        recall = result["argmax"]["intervals"].get(f"recall[{label}]")
        interval = f" [{recall['low']:.3f}, {recall['high']:.3f}]" if recall else ""
        table.add_row(
            label, f"{c['precision']:.3f}", f"{c['recall']:.3f}{interval}", f"{c['f1']:.3f}", str(c["support"])
        )
    console.print(table)
    f1 = result["argmax"]["intervals"]["macro_f1"]
    console.print(f"macro F1 {result['argmax']['macro_f1']:.3f} [{f1['low']:.3f}, {f1['high']:.3f}]")
    for target in result.get("policy", {}).get("targets", []):
        console.print(
            f"target {target['target']}: {target['value']:.3f} {target['status']} (the run's decision policy)"
        )
    if "deferral" in result:
        console.print(f"cascade: {result['deferral']['sentence']}", highlight=False)
        for target in result["deferral"]["targets"]:
            value = "—" if target["value"] is None else f"{target['value']:.3f}"
            console.print(
                f"deferral target {target['target']} (among answered): {value} {target['status']}", markup=False
            )
    if output:
        atomic_write_text(output, json.dumps(result, indent=2))
        console.print(f"written: {output}")


@app.command()
@friendly_errors
def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders, e.g. runs/a runs/b."),
    model: list[str] = typer.Option(["student"], "--model", "-m", help="Models to show; --model all for every one."),
) -> None:
    """Print runs side by side: macro F1 and accuracy with 95% intervals, critical recall, targets met."""
    from toolkit.metrics.compare import comparison_rows

    rows = comparison_rows(runs, [] if model == ["all"] else model)
    table = Table(title="runs side by side (test split)")
    for column in dict.fromkeys(key for row in rows for key in row):
        table.add_column(column, no_wrap=column in ("model", "domain"))
    for row in rows:
        table.add_row(*[row.get(str(column.header), "") for column in table.columns])
    console.print(table)


@app.command()
def packs() -> None:
    """List the domain packs found."""
    from toolkit.packs import available_packs, load_pack

    for name in available_packs():
        pack = load_pack(name)
        console.print(f"[bold]{name}[/]  labels: {', '.join(pack.config.label_names)}  ({pack.root})")


if __name__ == "__main__":
    app()
