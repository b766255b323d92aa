"""Where the toolkit's messages go: `logging`, one logger per module that sends them (`toolkit.distill.stage`,
`toolkit.filtering.trl_backend`, ...), so a package's logger (`toolkit.filtering`) holds a stage's area; each record's
`stage` attribute names the stage running. The CLI shows them through rich (`-v` more, `-q` less), a notebook on its
output; a program that calls `toolkit.run` sees them once it configures logging, or after `show_logs()`.

Third-party libraries are quieted only while our calls run (toolkit/quiet.py), and left as they were after.

>>> from toolkit.logs import show_logs
>>> show_logs()  # INFO and above of every toolkit logger, on stderr  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ROOT_LOGGER = "toolkit"
Log = Callable[[str], None]

_stage: ContextVar[str] = ContextVar("toolkit_stage", default="run")
_handler_mark = "_toolkit_handler"


def stage_log(line: str) -> None:
    """The default `log` of a run: `line` at INFO on the logger of the toolkit module that sent it (a run passes
    this function down as `log`, so the sender is the caller), else on `toolkit.<stage running now>`."""
    sender = sys._getframe(1).f_globals.get("__name__", "")  # as logging's own findCaller does
    name = sender if sender.startswith(f"{ROOT_LOGGER}.") else f"{ROOT_LOGGER}.{_stage.get()}"
    logging.getLogger(name).info(line, extra={"stage": _stage.get()}, stacklevel=2)


@contextmanager
def logging_stage(name: str) -> Iterator[None]:
    """Messages sent through `stage_log` inside the block carry `stage=name` (and go to `toolkit.<name>` when no
    toolkit module sent them)."""
    token = _stage.set(name)
    try:
        yield
    finally:
        _stage.reset(token)


def show_logs(level: int = logging.INFO, handler: logging.Handler | None = None) -> None:
    """Show the toolkit's messages at `level` and above through `handler` (default: plain lines on stderr).
    Calling it again replaces the handler it set; handlers set by the application are left alone."""
    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if getattr(h, _handler_mark, False)]:
        logger.removeHandler(old)
    handler = handler or logging.StreamHandler(sys.stderr)
    if handler.formatter is None:
        handler.setFormatter(logging.Formatter("%(message)s"))
    setattr(handler, _handler_mark, True)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # shown once, not again by a root handler
