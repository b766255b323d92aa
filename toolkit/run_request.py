"""What a run is asked for (`RunRequest`) and what it gives back (`RunResult`); which pack and which labeled file
a request names, a pandas DataFrame and a `PackConfig` built in Python included."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from toolkit.config import HOOK_NAMES, PackConfig, validate_pack_config
from toolkit.distributed import barrier, is_main_process
from toolkit.errors import ConfigError, DataError
from toolkit.packs import Pack, find_pack_dir, load_pack, pack_search_path
from toolkit.run_layout import RunLayout
from toolkit.safe_io import atomic_path


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: `domain-distill run --domain D [--data F] [--out DIR] [--fast] [--seed S]`.

    `domain` is a pack name or folder, a loaded `Pack`, or a `PackConfig` (e.g. a pack's config with a change; its
    hooks are those of the installed pack of its name). `data` is a CSV / JSONL / Parquet file or a pandas
    DataFrame, validated like a file (problems name the row, counted from 1, and the column); a DataFrame is
    stored in the run folder as `input.parquet`, without its index.

    >>> frame = pd.read_csv("data_templates/medical_triage/example_labeled.csv")
    >>> request = RunRequest(domain="medical_triage", data=frame, out=Path("runs/triage"), fast=True)
    >>> request.run_dir("medical_triage")
    PosixPath('runs/triage')
    """

    domain: str | Path | Pack | PackConfig
    data: str | Path | pd.DataFrame | None = None
    out: str | Path | None = None
    fast: bool = False
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # CPU threads of every pool in this process; None: the cores it may use
    profile: bool = False  # the report's stage timings break the filter, distill and compress stages into steps

    def run_dir(self, pack_name: str) -> Path:
        """`out`, or `runs/<pack name>`."""
        return Path(self.out) if self.out else Path("runs") / pack_name


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    report_path: Path
    metrics: dict | None  # None until the evaluate stage has run


def request_pack(request: RunRequest) -> Pack:
    """The pack the request names. A `PackConfig` is validated again (a `model_copy(update=...)` skips the checks)
    and takes its hooks from the installed pack of its name; without one, it may declare no hooks."""
    domain = request.domain
    if isinstance(domain, Pack):
        return Pack(root=domain.root, config=_validated(domain.config))
    if not isinstance(domain, PackConfig):
        return load_pack(domain)
    config = _validated(domain)
    installed = any((folder / config.name / "pack.yaml").is_file() for folder in pack_search_path())
    if installed:
        return Pack(root=find_pack_dir(config.name).resolve(), config=config)
    declared = [name for name in HOOK_NAMES if name in config.hooks]
    if declared:
        raise ConfigError(
            f"RunRequest.domain: the PackConfig {config.name!r} declares hooks ({', '.join(declared)}), "
            f"and no installed pack {config.name!r} holds their files",
            hint="give the Pack instead: RunRequest(domain=dataclasses.replace(load_pack(folder), config=config))",
        )
    return Pack(root=Path.cwd().resolve(), config=config)


def _validated(config: PackConfig) -> PackConfig:
    return validate_pack_config(config.model_dump(mode="json"), f"RunRequest.domain (pack config {config.name!r})")


def resolve_data_path(request: RunRequest, pack: Pack, run_dir: Path) -> Path:
    """The labeled file of the run: the request's file, its DataFrame stored in the run folder, else the pack's
    example data."""
    if isinstance(request.data, pd.DataFrame):
        path = RunLayout(run_dir).input_frame
        if is_main_process():
            store_frame(request.data, path)
        barrier()  # the other processes read the file the main one wrote
        return path
    if request.data is not None:
        return Path(request.data)
    if pack.config.example_data is None:
        raise ConfigError(
            f"{pack.root / 'pack.yaml'}: no `example_data` declared and no --data given",
            hint="pass --data FILE with your labeled rows",
        )
    return pack.resolve_path(pack.config.example_data)


def store_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` as Parquet at `path`, atomically (a run that dies mid-write leaves the previous file), and
    only when its content changed, so that an unchanged frame keeps the data stage's key.

    >>> store_frame(pd.DataFrame({"text": ["a"], "label": ["low"]}), Path("runs/x/input.parquet"))  # doctest: +SKIP
    """
    named = [column for column in frame.columns if not isinstance(column, str)]
    if named:
        raise DataError(
            f"RunRequest.data: column {named[0]!r} of the DataFrame is not named by text",
            hint="name every column by a string, e.g. frame.columns = frame.columns.astype(str)",
        )
    for column in frame.columns:
        try:
            pa.Array.from_pandas(frame[column])
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise DataError(
                f"RunRequest.data: column {column!r} of the DataFrame mixes types Parquet cannot store together "
                f"({str(error).splitlines()[0]})",
                hint=f"give the column one type, e.g. frame[{column!r}] = frame[{column!r}].astype(str)",
            ) from None
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    content = buffer.getvalue()
    if path.is_file() and path.read_bytes() == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)
