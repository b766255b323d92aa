"""The `domain-distill` command. Sub-commands mirror the user's path; bad input is one red line and exit code 2."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from toolkit.errors import UserInputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Distil big teachers into a small, measured classifier for your domain (finance risk, medical triage).",
)
console = Console()
errors = Console(stderr=True)


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
) -> None:
    """Run the whole path: data -> teachers -> distill -> evaluate. Unchanged stages are skipped."""
    from toolkit.pipeline import RunRequest
    from toolkit.pipeline import run as run_pipeline

    started = time.perf_counter()
    request = RunRequest(domain=domain, data=data, out=out, fast=fast, seed=seed, overrides=_parse_overrides(set_))
    result = run_pipeline(request, log=lambda line: console.print(line, highlight=False, markup=False))
    console.print(f"\n[bold green]done[/] in {time.perf_counter() - started:.0f} s")
    console.print(f"report:  {result.report_path}")
    console.print(f"metrics: {result.run_dir / 'report' / 'metrics.json'}")


@app.command()
@friendly_errors
def validate(
    file: Path = typer.Argument(..., help="The labeled file to check."),
    domain: str = typer.Option(..., "--domain", "-d", help="Pack whose data contract applies."),
) -> None:
    """Check a labeled file against a pack's data contract and list every problem with its row and column."""
    from toolkit.data.loading import read_table
    from toolkit.data.validation import validate_frame
    from toolkit.packs import load_pack

    pack = load_pack(domain)
    frame, report = validate_frame(read_table(file), pack.config, file)
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
    for label in pack.config.label_names:
        table.add_row(label, str(int(counts.get(label, 0))))
    console.print(table)


@app.command("example-data")
@friendly_errors
def example_data(
    domain: str = typer.Option(..., "--domain", "-d"),
    rows: int = typer.Option(800, "--rows", min=10),
    seed: int | None = typer.Option(None, "--seed"),
    out: Path | None = typer.Option(None, "--out", help="Default: the pack's example_data path."),
) -> None:
    """(Re)generate a pack's example data with its seeded synthetic generator."""
    from toolkit.packs import load_pack

    pack = load_pack(domain)
    generate = pack.hook("synthetic")
    frame = generate(n_rows=rows) if seed is None else generate(n_rows=rows, seed=seed)
    target = out or pack.resolve_path(pack.config.example_data or f"{pack.name}_example.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)
    console.print(f"wrote {len(frame)} rows to {target}")


@app.command()
def packs() -> None:
    """List the domain packs found."""
    from toolkit.packs import available_packs, load_pack

    for name in available_packs():
        pack = load_pack(name)
        console.print(f"[bold]{name}[/]  labels: {', '.join(pack.config.label_names)}  ({pack.root})")


if __name__ == "__main__":
    app()
