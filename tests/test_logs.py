"""Messages go through `logging`: one logger per stage, shown by the CLI (`-v` / `-q`), and third-party settings
are changed only while our calls run."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from transformers.utils import logging as hf_logging
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.logs import ROOT_LOGGER, logging_stage, show_logs, stage_log
from toolkit.quiet import quiet_third_party

from .conftest import tiny_overrides


def test_a_run_logs_on_the_sending_modules_logger_with_the_stage(
    tmp_path: Path, tiny_model_dir: Path, finance_sample: Path, caplog
):
    request = toolkit.RunRequest(
        domain="finance_risk", data=finance_sample, out=tmp_path / "run", overrides=tiny_overrides(tiny_model_dir)
    )
    with caplog.at_level(logging.INFO, logger=ROOT_LOGGER):
        logging.getLogger(ROOT_LOGGER).propagate = True  # caplog listens on the root logger
        toolkit.run(request, until="data")
    by_logger = {(r.name, r.stage, r.getMessage()) for r in caplog.records}
    assert ("toolkit.pipeline", "data", "[data] running") in by_logger
    assert any(name == "toolkit.data.stage" and message.startswith("data: ") for name, _, message in by_logger)


def test_stage_log_follows_the_stage_running_now(caplog) -> None:
    with caplog.at_level(logging.INFO, logger=ROOT_LOGGER):
        logging.getLogger(ROOT_LOGGER).propagate = True
        with logging_stage("distill"):
            stage_log("inside")
        stage_log("outside")
    assert [(r.name, r.stage, r.getMessage()) for r in caplog.records] == [  # sent from outside the toolkit
        ("toolkit.distill", "distill", "inside"),
        ("toolkit.run", "run", "outside"),
    ]


def test_third_party_settings_are_restored_after_our_calls() -> None:
    hf_logging.set_verbosity_info()
    hf_logging.enable_progress_bar()
    filters = list(warnings.filters)
    with quiet_third_party():
        assert hf_logging.get_verbosity() == hf_logging.ERROR and not hf_logging.is_progress_bar_enabled()
        warnings.simplefilter("ignore")
    assert hf_logging.get_verbosity() == hf_logging.INFO and hf_logging.is_progress_bar_enabled()
    assert warnings.filters == filters
    hf_logging.set_verbosity_warning()


def test_show_logs_replaces_only_its_own_handler() -> None:
    logger = logging.getLogger(ROOT_LOGGER)
    mine = logging.NullHandler()
    logger.addHandler(mine)
    try:
        show_logs(logging.WARNING)
        show_logs(logging.INFO)
        before = [h for h in logger.handlers if h is not mine]
        show_logs(logging.INFO)
        after = [h for h in logger.handlers if h is not mine]
        assert len(after) == len(before) and mine in logger.handlers and logger.level == logging.INFO
    finally:
        logger.removeHandler(mine)


def test_the_cli_quiet_flag_hides_progress_and_verbose_shows_debug() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["-q", "packs"]).exit_code == 0
    assert logging.getLogger(ROOT_LOGGER).level == logging.WARNING
    assert runner.invoke(app, ["-v", "packs"]).exit_code == 0
    assert logging.getLogger(ROOT_LOGGER).level == logging.DEBUG
    runner.invoke(app, ["packs"])
    assert logging.getLogger(ROOT_LOGGER).level == logging.INFO
