"""Bad input from the command line: one clear line naming the file / column / row, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from toolkit.cli import app

from .conftest import REPO_ROOT

runner = CliRunner()
FINANCE_EXAMPLE = REPO_ROOT / "data_templates" / "finance_risk" / "example_labeled.csv"


def run_cli(*args: str):
    return runner.invoke(app, list(args))


def test_missing_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = run_cli("run", "--domain", "finance_risk", "--data", str(missing), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "missing.csv: file not found" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_missing_column_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "no_narrative.csv"
    pd.read_csv(FINANCE_EXAMPLE, dtype=str).drop(columns=["narrative"]).head(50).to_csv(path, index=False)
    result = run_cli("run", "--domain", "finance_risk", "--data", str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "missing column 'narrative'" in result.stderr.replace("\n", "")
    assert str(path) in result.stderr.replace("\n", "")


def test_unknown_label_names_row_column_and_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "bad_label.csv"
    frame = pd.read_csv(FINANCE_EXAMPLE, dtype=str).head(50)
    frame.loc[6, "risk"] = "severe"
    frame.to_csv(path, index=False)
    result = run_cli("run", "--domain", "finance_risk", "--data", str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    message = result.stderr.replace("\n", " ")
    assert "row 7, column 'risk': unknown label 'severe'; allowed: low, medium, high" in message


def test_unknown_domain_lists_packs(tmp_path: Path) -> None:
    result = run_cli("run", "--domain", "retail", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "domain pack 'retail' not found" in result.stderr
    assert "finance_risk" in result.stderr


def test_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "two_errors.csv"
    frame = pd.read_csv(FINANCE_EXAMPLE, dtype=str).head(30)
    frame.loc[2, "risk"] = "hgih"
    frame.loc[4, "amount"] = "lots"
    frame.to_csv(path, index=False)
    result = run_cli("validate", "--domain", "finance_risk", str(path))
    assert result.exit_code == 2
    assert "row 3, column 'risk'" in result.stdout and "row 5, column 'amount'" in result.stdout
    assert "2 error(s)" in result.stdout


def test_installed_command_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("domain-distill")
    if not script.is_file():  # e.g. the toolkit on PYTHONPATH, not installed (make setup installs it)
        pytest.skip(f"the domain-distill command is not installed next to {sys.executable}")
    completed = subprocess.run(
        [str(script), "run", "--domain", "finance_risk", "--data", str(tmp_path / "gone.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[0].startswith("error:")
    assert "Traceback" not in completed.stderr
