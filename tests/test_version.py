"""One version source: `toolkit.__version__`, which packaging, the CLI and every run's manifest read."""

from __future__ import annotations

import tomllib

from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.manifest import environment_versions

from .conftest import REPO_ROOT


def test_packaging_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "toolkit.__version__"}


def test_the_cli_prints_the_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"domain-distill {toolkit.__version__}\n"


def test_the_manifest_records_the_package_version_even_when_not_installed() -> None:
    assert environment_versions()["domain-distill"] == toolkit.__version__
