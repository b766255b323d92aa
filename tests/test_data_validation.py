"""A user's file is checked against the pack's contract; every problem names its row and column.

Each test writes a real malformed file and reads it through the same door as `domain-distill validate`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from toolkit.config import apply_overrides
from toolkit.data.loading import read_table
from toolkit.data.validation import validate_frame
from toolkit.errors import ConfigError, DataError
from toolkit.packs import load_pack

from .conftest import REPO_ROOT

LEVELS = ["non_urgent", "urgent", "emergent"]


@pytest.fixture(scope="module")
def triage():
    return load_pack("medical_triage").config


def triage_rows(n: int = 30) -> pd.DataFrame:
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
            "acuity": [LEVELS[i % 3] for i in range(n)],
        }
    )


def check(frame: pd.DataFrame, config, tmp_path: Path, name: str = "rows.csv"):
    """Write `frame` as a file, read it back like a user's file, validate it."""
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return validate_frame(read_table(path), config, path)


def messages(report) -> list[tuple[int | None, str | None, str]]:
    return [(i.row, i.column, i.message) for i in report.errors]


def test_clean_file_passes(triage, tmp_path) -> None:
    frame, report, _ = check(triage_rows(), triage, tmp_path)
    assert report.errors == [] and len(frame) == 30
    assert frame["spo2"].tolist()[:2] == [98.0, 98.0]


def test_missing_column_is_named_with_what_is_needed(triage, tmp_path) -> None:
    _, report, _ = check(triage_rows().drop(columns=["complaint"]), triage, tmp_path)
    assert report.errors[0].column == "complaint"
    assert "missing column 'complaint'" in report.errors[0].message
    assert "the medical_triage pack needs: ['complaint', 'acuity']" in report.errors[0].message


def test_extra_column_is_a_warning(triage, tmp_path) -> None:
    _, report, _ = check(triage_rows().assign(ward="A"), triage, tmp_path)
    assert report.errors == []
    assert [(w.column, w.message) for w in report.warnings] == [("ward", "column not used by the pack (ignored)")]


def test_absent_optional_vital_is_a_warning_not_an_error(triage, tmp_path) -> None:
    frame, report, _ = check(triage_rows().drop(columns=["pain_score"]), triage, tmp_path)
    assert report.errors == [] and len(frame) == 30
    assert ("pain_score", "optional column absent; rendered without it") in [
        (w.column, w.message) for w in report.warnings
    ]


def test_unknown_label_names_row_column_and_closest_allowed(triage, tmp_path) -> None:
    data = triage_rows()
    data.loc[1, "acuity"] = "emergnet"
    _, report, _ = check(data, triage, tmp_path)
    (error,) = report.errors
    assert (error.row, error.column) == (2, "acuity")
    assert error.message == "unknown label 'emergnet'; allowed: non_urgent, urgent, emergent (closest: 'emergent')"
    with pytest.raises(DataError, match=r"rows.csv: row 2, column 'acuity': unknown label"):
        report.raise_if_errors()


def test_label_in_wrong_case_suggests_the_right_spelling(triage, tmp_path) -> None:
    data = triage_rows()
    data.loc[0, "acuity"] = "Urgent"
    _, report, _ = check(data, triage, tmp_path)
    assert "did you mean 'urgent'" in report.errors[0].message


def test_wrong_type_is_reported_with_row_and_column(triage, tmp_path) -> None:
    data = triage_rows()
    data.loc[2, "heart_rate"] = "fast"
    data.loc[3, "age"] = "40.5"
    _, report, _ = check(data, triage, tmp_path)
    assert messages(report) == [
        (4, "age", "'40.5' is not a whole number (int expected)"),
        (3, "heart_rate", "'fast' is not a number (int expected)"),
    ]


def test_empty_and_over_long_texts_are_errors(triage, tmp_path) -> None:
    data = triage_rows()
    data.loc[0, "complaint"] = "  "
    data.loc[5, "complaint"] = "pain " * 1000
    _, report, _ = check(data, triage, tmp_path)
    assert messages(report) == [
        (1, "complaint", "empty text"),
        (6, "complaint", "text of 5,000 characters; at most 4,000 allowed (data_rules.max_text_chars)"),
    ]


def test_exact_duplicates_are_dropped_and_listed(triage, tmp_path) -> None:
    data = pd.concat([triage_rows(), triage_rows().iloc[[0]]], ignore_index=True)
    frame, report, _ = check(data, triage, tmp_path)
    assert len(frame) == 30
    assert [(d.row, d.message) for d in report.dropped] == [(31, "duplicate of row 1")]


def test_same_text_with_other_vitals_is_not_a_duplicate(triage, tmp_path) -> None:
    data = pd.concat([triage_rows(), triage_rows().iloc[[0]]], ignore_index=True)
    data.loc[30, "spo2"] = "85"
    frame, report, _ = check(data, triage, tmp_path)
    assert len(frame) == 31 and report.dropped == []


def test_conflicting_duplicate_is_an_error(triage, tmp_path) -> None:
    data = pd.concat([triage_rows(), triage_rows().iloc[[0]]], ignore_index=True)
    data.loc[30, "acuity"] = "emergent"
    _, report, _ = check(data, triage, tmp_path)
    assert messages(report) == [
        (31, "complaint", "same input as row 1 but label 'emergent' instead of 'non_urgent'; fix one of them")
    ]


def test_class_too_small_to_split_is_an_error(triage, tmp_path) -> None:
    data = triage_rows()
    data = pd.concat([data[data["acuity"] != "emergent"], data[data["acuity"] == "emergent"].head(2)])
    _, report, _ = check(data, triage, tmp_path)
    assert messages(report) == [
        (None, "acuity", "class 'emergent' has 2 row(s); at least 7 are needed to split it 15% / 15%")
    ]


def test_heavy_imbalance_is_a_warning(triage, tmp_path) -> None:
    data = triage_rows(300)
    data.loc[:, "acuity"] = "non_urgent"
    data.loc[:9, "acuity"] = "urgent"
    data.loc[10:19, "acuity"] = "emergent"
    _, report, _ = check(data, triage, tmp_path)
    assert report.errors == []
    assert any(w.message.startswith("heavy imbalance: 'urgent' has 10 rows against 280") for w in report.warnings)


def test_the_same_case_in_a_later_split_is_dropped_and_said_so(triage, tmp_path) -> None:
    data = triage_rows().assign(fold=["train"] * 20 + ["validation"] * 5 + ["test"] * 5)
    data.loc[29] = data.loc[0].to_list()[:-1] + ["test"]
    config = apply_overrides(triage, {"input_map.columns": {"fold": "split"}})
    frame, report, _ = check(data, config, tmp_path)
    assert report.errors == [] and len(frame) == 29
    assert [(d.row, d.message) for d in report.dropped] == [
        (30, "duplicate of row 1 (in split 'train'): dropped so that no case is in two splits")
    ]


def test_the_same_complaint_with_other_vitals_in_another_split_is_another_case(triage, tmp_path) -> None:
    data = triage_rows().assign(fold=["train"] * 20 + ["validation"] * 5 + ["test"] * 5)
    data.loc[29, "complaint"] = data.loc[0, "complaint"]
    data.loc[29, "spo2"] = "91"
    data.loc[0, "spo2"] = "99"
    config = apply_overrides(triage, {"input_map.columns": {"fold": "split"}})
    frame, report, _ = check(data, config, tmp_path)
    assert report.errors == [] and len(frame) == 30


def test_unknown_split_value_is_an_error(triage, tmp_path) -> None:
    data = triage_rows().assign(fold="holdout")
    config = apply_overrides(triage, {"input_map.columns": {"fold": "split"}})
    _, report, _ = check(data, config, tmp_path)
    assert report.errors[0].message == "split 'holdout' not allowed; allowed: train, validation, test"


def test_column_map_keeps_the_users_names_and_label_spellings(triage, tmp_path) -> None:
    data = triage_rows().rename(columns={"complaint": "reason_for_visit", "acuity": "esi", "spo2": "o2sat"})
    data["esi"] = [str(1 + i % 3) for i in range(30)]
    config = apply_overrides(
        triage,
        {
            "input_map.columns": {"reason_for_visit": "text", "esi": "label", "o2sat": "spo2"},
            "input_map.labels": {"1": "emergent", "2": "urgent", "3": "non_urgent"},
        },
    )
    frame, report, _ = check(data, config, tmp_path)
    assert report.errors == []
    assert frame["label"].tolist()[:3] == ["emergent", "urgent", "non_urgent"]
    assert frame["text"].iloc[0] == "complaint number 0" and frame["spo2"].iloc[0] == 98.0


def test_column_map_naming_a_missing_column_is_an_error(triage, tmp_path) -> None:
    config = apply_overrides(triage, {"input_map.columns": {"chief_complaint": "text"}})
    with pytest.raises(DataError, match=r"column map names column 'chief_complaint', which is not in the file"):
        check(triage_rows(), config, tmp_path)


def test_column_map_to_an_unknown_role_lists_allowed_targets(triage, tmp_path) -> None:
    config = apply_overrides(triage, {"input_map.columns": {"complaint": "narrative"}})
    with pytest.raises(ConfigError, match=r"'narrative' is neither a role nor a column .* allowed: acuity, age"):
        check(triage_rows(), config, tmp_path)


def test_star_renders_every_other_column_into_the_text(tmp_path) -> None:
    finance = load_pack("finance_risk").config
    data = pd.DataFrame(
        {
            "purpose": ["car", "tv", "car"] * 10,
            "duration_months": list(range(30)),
            "outcome": ["good", "bad", "good"] * 10,
        }
    )
    config = apply_overrides(
        finance,
        {"input_map.columns": {"*": "text", "outcome": "label"}, "input_map.labels": {"good": "low", "bad": "high"}},
    )
    frame, report, _ = check(data, config, tmp_path)
    assert report.errors == []
    assert frame["text"].iloc[1] == "purpose: tv; duration months: 1"
    assert frame["label"].iloc[1] == "high"


def test_unlabeled_rows_are_errors_unless_dropping_is_asked_for(triage, tmp_path) -> None:
    data = triage_rows()
    data.loc[4, "acuity"] = None
    _, report, _ = check(data, triage, tmp_path)
    [(row, column, message)] = messages(report)
    assert (row, column) == (5, "acuity")
    assert message.startswith("missing label; allowed: non_urgent, urgent, emergent") and "--drop-unlabeled" in message
    frame, report, _ = check(data, apply_overrides(triage, {"input_map.drop_unlabeled": True}), tmp_path)
    assert report.errors == [] and len(frame) == 29
    assert [(d.row, d.message) for d in report.dropped] == [(5, "no label (input_map.drop_unlabeled is on)")]


def test_missing_file_names_the_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unsupported_extension_lists_formats(tmp_path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'; allowed: .csv"):
        read_table(path)


def test_broken_csv_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"complaint,acuity\n\xff\xfe bad bytes,urgent\n")
    with pytest.raises(DataError, match=r"broken.csv: not UTF-8 text"):
        read_table(path)


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.parquet"])
def test_jsonl_and_parquet_read_like_csv(name: str, triage, tmp_path) -> None:
    frame, report, _ = check(triage_rows(), triage, tmp_path, name)
    assert report.errors == [] and len(frame) == 30


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
def test_example_data_is_valid_and_large_enough(pack: str) -> None:
    loaded = load_pack(pack)
    path = REPO_ROOT / loaded.config.example_data
    frame, report, _ = validate_frame(read_table(path), loaded.config, path)
    assert report.errors == [] and len(frame) >= 2000
    assert set(frame["label"]) == set(loaded.config.label_names)


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
def test_example_data_is_what_the_seeded_generator_writes(pack: str, tmp_path) -> None:
    loaded = load_pack(pack)
    regenerated = tmp_path / "regenerated.csv"
    loaded.hook("synthetic")().to_csv(regenerated, index=False)
    assert regenerated.read_text() == (REPO_ROOT / loaded.config.example_data).read_text()
