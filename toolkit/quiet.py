"""Known third-party notices that say nothing to our users, dropped inside our own calls only.

Each helper is a context manager that drops one named notice while the block runs and leaves warning filters,
logger filters and handlers as they were afterwards: nothing here changes what other code (or the user's own) sees.

>>> with quiet_warning(GRADIENT_CHECKPOINTING_NOTICE, FutureWarning):  # doctest: +SKIP
...     peft_model = get_peft_model(model, config)
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# transformers 5 deprecates `is_gradient_checkpointing`; PEFT (building or loading a LoRA model) and TRL still read it
GRADIENT_CHECKPOINTING_NOTICE = "`is_gradient_checkpointing` is deprecated"
# ONNX Runtime's quantizers log this through the root logger for every model without its pre-processing metadata;
# the pre-processing (symbolic shape inference + graph optimisation) is for static quantization of vision models
ORT_PREPROCESSING_NOTICE = "Please consider"


@contextmanager
def quiet_warning(starts_with: str, category: type[Warning] = Warning) -> Iterator[None]:
    """Ignore warnings of `category` whose message starts with `starts_with` inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(starts_with), category=category)
        yield


@contextmanager
def quiet_log_line(starts_with: str, logger_name: str | None = None) -> Iterator[None]:
    """Drop records starting with `starts_with` from `logger_name` (the root logger when None) inside the block.

    A library's bare `logging.warning(...)` configures an unconfigured root logger with a handler of its own; one
    added during the block is removed again, so the root logger is left exactly as it was found."""
    logger = logging.getLogger(logger_name)
    handlers = list(logger.handlers)

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(starts_with)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)


@contextmanager
def quiet_third_party() -> Iterator[None]:
    """Transformers at errors only and without weight-loading bars for the duration of the block (dozens of loads
    per run); its settings, and any warning filter set inside the block, are restored after it."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
