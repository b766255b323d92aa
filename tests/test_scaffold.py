"""A third pack, scaffolded by `domain-distill init`, runs end to end with no change to the core."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import ConfigError
from toolkit.packs import PACKS_ENV, load_pack
from toolkit.pipeline import RunRequest, run
from toolkit.scaffold import scaffold_pack

from .conftest import tiny_overrides

runner = CliRunner()


@pytest.fixture()
def third_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    packs = tmp_path / "my_packs"
    monkeypatch.setenv(PACKS_ENV, str(packs))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "insurance_claims", "--labels", "routine,review,fraud", "--dir", str(packs)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["example-data", "--domain", "insurance_claims", "--out", str(tmp_path / "templates")])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_scaffolded_pack_is_found_and_valid(third_pack: Path) -> None:
    pack = load_pack("insurance_claims")
    assert pack.config.label_names == ["routine", "review", "fraud"]
    assert pack.config.critical_label == "fraud"
    assert sorted(pack.config.hooks.declared()) == ["metrics", "rules", "synthetic"]


def test_scaffolded_pack_templates_validate(third_pack: Path) -> None:
    example = third_pack / "templates" / "example_labeled.csv"
    result = runner.invoke(app, ["validate", "--domain", "insurance_claims", str(example)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.stdout
    assert {p.name for p in (third_pack / "templates").iterdir()} == {
        "example_labeled.csv",
        "labeled.csv",
        "unlabeled.csv",
        "preferences.jsonl",
    }


def test_scaffolded_pack_runs_end_to_end(third_pack: Path, tiny_model_dir: Path) -> None:
    overrides = tiny_overrides(tiny_model_dir)
    overrides["teachers"] = [*overrides["teachers"], {"name": "keyword_rules", "kind": "rules"}]
    result = run(
        RunRequest(
            domain="insurance_claims",
            data=third_pack / "templates" / "example_labeled.csv",
            out=third_pack / "run",
            fast=True,
            overrides=overrides,
        ),
        log=lambda _: None,
    )
    models = result.metrics["models"]
    assert set(models) >= {"keyword_rules", "tfidf_lr", "student"}
    assert set(models["student"]["test"]["per_class"]) == {"routine", "review", "fraud"}
    # the scaffold's keyword rules know its phrases: far above chance on its own data
    assert models["keyword_rules"]["test"]["macro_f1"] > 0.7
    # the scaffold's metrics hook adds its figure to every model's report
    test_rows = sum(figures["support"] for figures in models["student"]["test"]["per_class"].values())
    caught = models["student"]["test"]["domain"]["recall_at_review_budget_10%"]
    assert caught["flagged"] == int(0.1 * test_rows)


def test_init_refuses_an_existing_pack_and_a_bad_name(tmp_path: Path) -> None:
    scaffold_pack("claims", tmp_path, ["a", "b"])
    with pytest.raises(ConfigError, match="already exists"):
        scaffold_pack("claims", tmp_path, ["a", "b"])
    with pytest.raises(ConfigError, match="use lower-case letters"):
        scaffold_pack("Claims!", tmp_path, ["a", "b"])
    with pytest.raises(ConfigError, match="--critical 'c': not one of the labels"):
        scaffold_pack("claims2", tmp_path, ["a", "b"], critical="c")
