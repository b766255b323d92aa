"""Each pack ships the files a user copies: labeled rows, an unlabeled pool and preference pairs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from toolkit.data.loading import read_table
from toolkit.data.templates import write_templates
from toolkit.data.validation import validate_frame
from toolkit.packs import load_pack

from .conftest import REPO_ROOT

PACKS = ["finance_risk", "medical_triage"]


@pytest.mark.parametrize("pack", PACKS)
def test_labeled_template_validates_and_shows_every_label(pack: str) -> None:
    loaded = load_pack(pack)
    path = REPO_ROOT / "data_templates" / pack / "labeled.csv"
    frame, report, _ = validate_frame(read_table(path), loaded.config, path)
    # nine rows show the shape of the file; they are too few to split, and validation says so
    assert {e.message.split(";")[0] for e in report.errors} == {
        f"class {label!r} has 3 row(s)" for label in loaded.config.label_names
    }
    assert frame["label"].value_counts().to_dict() == {label: 3 for label in loaded.config.label_names}


@pytest.mark.parametrize("pack", PACKS)
def test_unlabeled_pool_has_the_inputs_but_no_label(pack: str) -> None:
    config = load_pack(pack).config
    pool = pd.read_csv(REPO_ROOT / "data_templates" / pack / "unlabeled.csv")
    assert config.columns.label not in pool.columns
    assert config.columns.text in pool.columns and len(pool) >= 500
    example = pd.read_csv(REPO_ROOT / "data_templates" / pack / "example_labeled.csv")
    assert not set(pool[config.columns.id]) & set(example[config.columns.id])


@pytest.mark.parametrize("pack", PACKS)
def test_preference_pairs_prefer_the_case_of_the_named_label(pack: str) -> None:
    config = load_pack(pack).config
    lines = (REPO_ROOT / "data_templates" / pack / "preferences.jsonl").read_text().splitlines()
    pairs = [json.loads(line) for line in lines]
    assert len(pairs) >= 200
    for pair in pairs[:50]:
        assert set(pair) == {"prompt", "chosen", "rejected", "label", "reason"}
        assert pair["label"] in config.label_names and pair["chosen"] != pair["rejected"]


@pytest.mark.parametrize("pack", PACKS)
def test_committed_templates_are_what_the_generator_writes(pack: str, tmp_path) -> None:
    for path in write_templates(load_pack(pack), tmp_path):
        assert path.read_bytes() == (REPO_ROOT / "data_templates" / pack / path.name).read_bytes(), path.name


@pytest.mark.parametrize("pack", PACKS)
def test_every_pack_has_a_readme_describing_every_column(pack: str) -> None:
    config = load_pack(pack).config
    readme = (REPO_ROOT / "data_templates" / pack / "README.md").read_text()
    for column in [config.columns.text, config.columns.label, *(f.name for f in config.columns.fields)]:
        assert f"`{column}`" in readme, column
