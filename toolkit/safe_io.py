"""Writes that a crash cannot half-finish, outputs that never replace the user's files unasked, and a lock that keeps
two processes out of one run folder.

Every file a later step or run reads back (manifest, metrics, probabilities, models, progress records) goes through
`atomic_path` / `atomic_write_text`: written to a temporary file in the same folder, flushed to disk, then renamed
over the target, so a reader sees the old file or the new one, never a torn one.

>>> atomic_write_json(Path("runs/x/report/metrics.json"), {"macro_f1": 0.9})  # doctest: +SKIP
>>> with atomic_path(Path("runs/x/student/probs.npz")) as temporary:  # doctest: +SKIP
...     np.savez(temporary, test=probs)
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toolkit.errors import DataError, UserInputError

LOCK_FILE = ".lock"


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (the new directory entry reaches the disk)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to `path` (same suffix, so writers that infer the format still do); on success it
    replaces `path`, on an error it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield temporary
        if temporary.is_file():
            with temporary.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


@contextmanager
def atomic_folder(folder: Path) -> Iterator[Path]:
    """A temporary folder next to `folder` to save a model into; on success it replaces `folder` whole."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        yield temporary
        if folder.exists():
            os.replace(folder, old)
        os.replace(temporary, folder)
        _fsync_folder(folder.parent)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def refuse_overwrite(output: Path, force: bool, inputs: Sequence[Path] = ()) -> None:
    """An output that is one of the inputs is refused always; an existing one unless `force`."""
    output = Path(output)
    for source in map(Path, inputs):
        linked = source.exists() and output.exists() and os.path.samefile(source, output)  # also a hard link
        if linked or source.resolve() == output.resolve():
            raise DataError(
                f"{output}: is the input file {source}; writing there would destroy it",
                hint="give another --output path",
            )
    if output.exists() and not force:
        raise DataError(f"{output}: exists and would be replaced", hint="give another --output path, or add --force")


class RunLock:
    """An exclusive lock on a run folder, held while one process writes it; a second writer is refused at once
    (the lock goes with the process, so a killed run never leaves a stale one)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._handle = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserInputError(
                f"{self.path.parent}: in use by {holder}; two runs cannot write one run folder at once",
                hint="wait for it to finish, or give another --out folder",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
