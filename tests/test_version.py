"""One version source: `toolkit.__version__`, which packaging, the CLI and every run's manifest read; and one ruff."""

from __future__ import annotations

import tomllib

import yaml
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


def test_pre_commit_runs_the_ruff_the_dev_extra_pins() -> None:
    dev = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pinned = [r for r in dev if r.startswith("ruff")]
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert {h["id"] for h in hooks} == {"ruff-check", "ruff-format"}
    assert all(h["additional_dependencies"] == pinned for h in hooks)
