"""Stage 1 of a run: the user's file validated, rendered and split.

data/train.parquet validation.parquet test.parquet     the rendered inputs, labels and structured fields
data/validation_report.json                              every dropped row and warning, by row and column
data/input_contract.json                                 the columns `*=fields` typed (absent otherwise)
"""

from __future__ import annotations

import json

from sklearn.model_selection import train_test_split

from toolkit.data.column_map import input_contract, read_input_contract
from toolkit.data.loading import read_table
from toolkit.data.splits import split_frame
from toolkit.data.validation import check_truncation, validate_frame
from toolkit.distributed import is_main_process
from toolkit.errors import DataError
from toolkit.manifest import file_digest
from toolkit.manifest import fingerprint as hash_parts
from toolkit.run_context import RunContext, Stage
from toolkit.safe_io import atomic_path, atomic_write_text
from toolkit.transformer_models import load_tokenizer


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The data file itself and every config key that decides how it is read, rendered and split."""
    c = ctx.config
    if not ctx.data_path.is_file():
        raise DataError(f"{ctx.data_path}: file not found", hint="give the path of a CSV, JSONL or Parquet file")
    return hash_parts(
        "data",
        file_digest(ctx.data_path),
        c.columns.model_dump(mode="json"),
        c.input_map.model_dump(mode="json"),
        c.data_rules.model_dump(mode="json"),
        c.render.model_dump(mode="json"),
        c.split.model_dump(mode="json"),
        c.label_names,
        ctx.seed,
        c.fast.max_train_rows if ctx.fast else None,
    )


def run(ctx: RunContext) -> dict:
    """Validate the user's file, render inputs, split; write parquet splits and the validation report."""
    layout = ctx.layout
    frame, report, config = validate_frame(read_table(ctx.data_path), ctx.config, ctx.data_path)
    check_truncation(frame, config, report, load_tokenizer(config.student.model))
    if report.truncated:
        ctx.log(f"data: warning: {report.warnings[-1].message}")
    layout.data.mkdir(parents=True, exist_ok=True)
    layout.input_contract.unlink(missing_ok=True)
    if config.columns.fields != ctx.config.columns.fields:  # `*=fields` typed the table's columns: keep the types
        atomic_write_text(layout.input_contract, json.dumps(input_contract(config)))
    atomic_write_text(layout.validation_report, json.dumps(report.to_dict(), indent=2))
    report.raise_if_errors()
    parts = split_frame(
        frame,
        config.split.model_copy(update={"seed": ctx.seed}),
        group_column="group" if config.columns.group else None,
    )
    if ctx.fast and len(parts["train"]) > ctx.config.fast.max_train_rows:
        parts["train"], _ = train_test_split(
            parts["train"],
            train_size=ctx.config.fast.max_train_rows,
            stratify=parts["train"]["label"],
            random_state=ctx.seed,
        )
        parts["train"] = parts["train"].reset_index(drop=True)
    for name, part in parts.items():
        with atomic_path(layout.split(name)) as temporary:
            part.to_parquet(temporary, index=False)
    sizes = {name: len(part) for name, part in parts.items()}
    ctx.log(
        f"data: {report.rows_read} rows read, {len(report.dropped)} dropped (listed in the report), "
        f"split {sizes['train']} / {sizes['validation']} / {sizes['test']}"
    )
    return {"split_sizes": sizes, "dropped": len(report.dropped), "warnings": len(report.warnings)}


def adopt_input_contract(ctx: RunContext) -> None:
    """The fields the data stage typed (`*=fields`) become part of the run's config for every later stage."""
    contract = ctx.layout.input_contract
    if contract.is_file():
        ctx.config = read_input_contract(ctx.config, contract)
        if is_main_process():
            ctx.manifest.update(config=ctx.config.model_dump(mode="json"))


STAGE = Stage("data", fingerprint, run, main_process_only=True, after=adopt_input_contract)
