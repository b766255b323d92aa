"""A user's file is checked against the pack's contract; every problem names its row and column."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.config import Band, FieldSpec
from toolkit.data.loading import read_table
from toolkit.data.rendering import render_row
from toolkit.data.validation import validate_frame
from toolkit.errors import DataError
from toolkit.packs import load_pack

from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def triage():
    return load_pack("medical_triage").config


def rows(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "visit_id": [f"v{i}" for i in range(n)],
            "complaint": [f"complaint number {i}" for i in range(n)],
            "age": ["40"] * n,
            "heart_rate": ["80"] * n,
            "resp_rate": ["16"] * n,
            "spo2": ["98"] * n,
            "systolic_bp": ["120"] * n,
            "temperature_c": ["36.8"] * n,
            "pain_score": ["2"] * n,
            "acuity": ["urgent"] * n,
        }
    )


def test_clean_rows_pass(triage) -> None:
    frame, report = validate_frame(rows(), triage, "x.csv")
    assert report.errors == [] and len(frame) == 3
    assert frame["spo2"].tolist() == [98.0, 98.0, 98.0]


def test_missing_column_is_named_with_what_is_needed(triage) -> None:
    _, report = validate_frame(rows().drop(columns=["spo2"]), triage, "x.csv")
    assert report.errors[0].column == "spo2"
    assert "missing column 'spo2'" in report.errors[0].message


def test_unknown_label_names_row_column_and_closest_allowed(triage) -> None:
    data = rows()
    data.loc[1, "acuity"] = "emergnet"
    _, report = validate_frame(data, triage, "x.csv")
    (error,) = report.errors
    assert (error.row, error.column) == (2, "acuity")
    assert "unknown label 'emergnet'" in error.message and "closest: 'emergent'" in error.message
    with pytest.raises(DataError, match=r"x.csv: row 2, column 'acuity': unknown label"):
        report.raise_if_errors()


def test_label_in_wrong_case_suggests_the_right_spelling(triage) -> None:
    data = rows()
    data.loc[0, "acuity"] = "Urgent"
    _, report = validate_frame(data, triage, "x.csv")
    assert "did you mean 'urgent'" in report.errors[0].message


def test_non_numeric_vital_is_reported(triage) -> None:
    data = rows()
    data.loc[2, "heart_rate"] = "fast"
    _, report = validate_frame(data, triage, "x.csv")
    assert (report.errors[0].row, report.errors[0].column) == (3, "heart_rate")
    assert "'fast' is not a number" in report.errors[0].message


def test_empty_text_is_an_error(triage) -> None:
    data = rows()
    data.loc[0, "complaint"] = "  "
    _, report = validate_frame(data, triage, "x.csv")
    assert [(e.row, e.message) for e in report.errors] == [(1, "empty text")]


def test_exact_duplicates_are_dropped_and_listed(triage) -> None:
    data = pd.concat([rows(), rows().iloc[[0]]], ignore_index=True)
    frame, report = validate_frame(data, triage, "x.csv")
    assert len(frame) == 3
    assert [(d.row, d.message) for d in report.dropped] == [(4, "duplicate of row 1")]


def test_same_text_with_other_vitals_is_not_a_duplicate(triage) -> None:
    data = pd.concat([rows(1), rows(1)], ignore_index=True)
    data.loc[1, "spo2"] = "85"
    frame, report = validate_frame(data, triage, "x.csv")
    assert len(frame) == 2 and report.dropped == []


def test_conflicting_duplicate_is_an_error(triage) -> None:
    data = pd.concat([rows(1), rows(1)], ignore_index=True)
    data.loc[1, "acuity"] = "emergent"
    _, report = validate_frame(data, triage, "x.csv")
    assert "same text as row 1 but label 'emergent'" in report.errors[0].message


def test_missing_file_names_the_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unsupported_extension_lists_formats(tmp_path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'; allowed: .csv"):
        read_table(path)


def test_jsonl_and_parquet_read_like_csv(tmp_path, triage) -> None:
    data = rows()
    data.to_json(tmp_path / "r.jsonl", orient="records", lines=True)
    data.to_parquet(tmp_path / "r.parquet")
    for name in ("r.jsonl", "r.parquet"):
        frame, report = validate_frame(read_table(tmp_path / name), triage, name)
        assert report.errors == [] and len(frame) == 3


def test_rendering_tags_out_of_range_values() -> None:
    spo2 = FieldSpec(name="spo2", type="int", label="SpO2", unit="%", bands=[Band(tag="low", below=92)])
    assert render_row("short of breath", {"spo2": 88.0}, [spo2]) == "short of breath | SpO2 88% (low)"
    assert render_row("short of breath", {"spo2": 97.0}, [spo2]) == "short of breath | SpO2 97%"


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
def test_example_data_is_valid_and_large_enough(pack: str) -> None:
    loaded = load_pack(pack)
    path = REPO_ROOT / loaded.config.example_data
    frame, report = validate_frame(read_table(path), loaded.config, path)
    assert report.errors == [] and len(frame) >= 600
    assert set(frame["label"]) == set(loaded.config.label_names)


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
def test_example_data_is_what_the_seeded_generator_writes(pack: str, tmp_path) -> None:
    loaded = load_pack(pack)
    regenerated = tmp_path / "regenerated.csv"
    loaded.hook("synthetic")(n_rows=800).to_csv(regenerated, index=False)
    assert regenerated.read_text() == (REPO_ROOT / loaded.config.example_data).read_text()
