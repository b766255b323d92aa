"""Structured fields hold plausible values: a number that is not finite, or outside the field's `min` / `max`, is an
error naming its row and column, in training validation and in `predict` alike; a column in other units is
converted by a named conversion in the column map (`temperature=temperature_c:F->C`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.config import FieldSpec, apply_overrides
from toolkit.data.column_map import convert_units
from toolkit.data.loading import read_table
from toolkit.data.rendering import render_row
from toolkit.data.validation import ValidationReport, check_field, validate_frame
from toolkit.errors import ConfigError
from toolkit.packs import load_pack
from toolkit.predict import Predictor, predict_file

LEVELS = ["non_urgent", "urgent", "emergent"]
VITALS = {
    "age": "40",
    "heart_rate": "80",
    "resp_rate": "16",
    "spo2": "98",
    "systolic_bp": "120",
    "temperature_c": "36.8",
    "pain_score": "2",
}


@pytest.fixture(scope="module")
def triage():
    return load_pack("medical_triage").config


def triage_rows(n: int = 30, **column_values: str) -> pd.DataFrame:
    """`n` valid triage rows; `column_values` replaces one column's value in the first row."""
    frame = pd.DataFrame(
        {
            "visit_id": [f"v{i}" for i in range(n)],
            "complaint": [f"complaint number {i}" for i in range(n)],
            **{name: [value] * n for name, value in VITALS.items()},
            "acuity": [LEVELS[i % 3] for i in range(n)],
        }
    )
    for column, value in column_values.items():
        frame.loc[0, column] = value
    return frame


def validate_csv(frame: pd.DataFrame, config, tmp_path: Path):
    """Write `frame` as a CSV, read it back like a user's file and validate it."""
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return validate_frame(read_table(path), config, path)


def errors(report) -> list[tuple[int | None, str | None, str]]:
    return [(i.row, i.column, i.message) for i in report.errors]


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity"])
def test_an_infinite_vital_is_an_error_of_its_row(triage, tmp_path: Path, text: str) -> None:
    frame, report, _ = validate_csv(triage_rows(temperature_c=text), triage, tmp_path)
    assert frame.empty
    assert errors(report) == [(1, "temperature_c", f"{text!r} is not a finite number (float expected)")]


def test_an_infinite_number_is_refused_by_a_field_without_a_range() -> None:
    field = FieldSpec(name="amount", type="float", required=False)
    report = ValidationReport(source="rows.csv")
    bad: set[int] = set()
    check_field(pd.DataFrame({"amount": ["12.5", "inf"]}), field, report, bad)
    assert bad == {1}
    assert [(i.row, i.message) for i in report.errors] == [(2, "'inf' is not a finite number (float expected)")]


def test_nan_written_as_text_is_not_a_number(triage, tmp_path: Path) -> None:
    _, report, _ = validate_csv(triage_rows(spo2="nan"), triage, tmp_path)
    assert errors(report) == [(1, "spo2", "'nan' is not a number (int expected)")]


def test_1e308_is_outside_the_plausible_heart_rate(triage, tmp_path: Path) -> None:
    _, report, _ = validate_csv(triage_rows(heart_rate="1e308"), triage, tmp_path)
    assert errors(report) == [
        (
            1,
            "heart_rate",
            "heart_rate 1e308 is outside the plausible range 20–300 (pack.yaml fields.heart_rate min/max)",
        )
    ]


def test_heart_rate_99999_is_outside_the_plausible_range(triage, tmp_path: Path) -> None:
    _, report, _ = validate_csv(triage_rows(heart_rate="99999"), triage, tmp_path)
    assert errors(report) == [
        (
            1,
            "heart_rate",
            "heart_rate 99999 is outside the plausible range 20–300 (pack.yaml fields.heart_rate min/max)",
        )
    ]


def test_spo2_minus_40_is_outside_the_plausible_range(triage, tmp_path: Path) -> None:
    _, report, _ = validate_csv(triage_rows(spo2="-40"), triage, tmp_path)
    assert errors(report) == [
        (1, "spo2", "spo2 -40% is outside the plausible range 30–100% (pack.yaml fields.spo2 min/max)")
    ]


def test_a_temperature_in_fahrenheit_without_a_conversion_is_outside_the_range(triage, tmp_path: Path) -> None:
    _, report, _ = validate_csv(triage_rows(temperature_c="98.6"), triage, tmp_path)
    assert [(row, column) for row, column, _ in errors(report)] == [(1, "temperature_c")]
    assert "outside the plausible range 25–45 C" in report.errors[0].message


def test_the_bounds_themselves_are_plausible_and_render_as_before(triage, tmp_path: Path) -> None:
    rows = triage_rows(spo2="30", heart_rate="300", pain_score="0", temperature_c="45")
    frame, report, _ = validate_csv(rows, triage, tmp_path)
    assert report.errors == []
    assert frame.loc[0, "input"] == (
        "complaint number 0 | age 40 y | HR 300 (high) | RR 16 | SpO2 30% (low) | SBP 120 | temp 45 C (fever) | "
        "pain 0/10"
    )


def test_a_range_is_refused_when_min_is_above_max(triage) -> None:
    fields = [f.model_dump() for f in triage.columns.fields]
    fields[1] |= {"min": 300, "max": 20}
    with pytest.raises(ConfigError, match=r"columns\.fields\.1`: field 'heart_rate': `min` \(300\) is above `max`"):
        apply_overrides(triage, {"columns.fields": fields})


def test_a_range_is_refused_on_a_category_field() -> None:
    with pytest.raises(ValueError, match="field 'channel': `min` / `max` apply to int and float fields"):
        FieldSpec(name="channel", type="category", min=0)


def test_a_fahrenheit_column_is_converted_to_celsius_by_the_column_map(triage, tmp_path: Path) -> None:
    rows = triage_rows().rename(columns={"temperature_c": "temp_f"})
    rows["temp_f"] = ["98.6", "101.3", "96.8"] * 10
    config = apply_overrides(triage, {"input_map.columns": {"temp_f": "temperature_c:F->C"}})
    frame, report, _ = validate_csv(rows, config, tmp_path)
    assert report.errors == []
    assert frame["temperature_c"].tolist()[:3] == [37.0, 38.5, 36.0]
    assert "temp 38.5 C (fever)" in frame.loc[1, "input"]
    assert "column 'temp_f' -> 'temperature_c' (F->C)" in report.notes


def test_pounds_and_inches_convert_to_kilograms_and_centimetres() -> None:
    weight = FieldSpec(name="weight_kg", type="float")
    height = FieldSpec(name="height_cm", type="int")
    assert convert_units(pd.Series(["154", None]), "lb->kg", weight).tolist()[0] == pytest.approx(69.8532)
    # an int field gets whole numbers; text is kept as it is, for validation to name
    assert convert_units(pd.Series(["70", "n/a"]), "in->cm", height).tolist() == [178.0, "n/a"]


def test_an_unknown_conversion_is_a_config_error_naming_the_allowed_ones(triage, tmp_path: Path) -> None:
    rows = triage_rows().rename(columns={"temperature_c": "temp_k"})
    config = apply_overrides(triage, {"input_map.columns": {"temp_k": "temperature_c:K->C"}})
    with pytest.raises(ConfigError, match=r"unknown unit conversion 'K->C'; allowed: F->C, lb->kg, in->cm"):
        validate_csv(rows, config, tmp_path)


def test_a_conversion_into_a_text_or_category_column_is_a_config_error(triage, tmp_path: Path) -> None:
    config = apply_overrides(triage, {"input_map.columns": {"complaint": "text:F->C"}})
    with pytest.raises(ConfigError, match="a unit conversion needs a numeric field of the medical_triage pack"):
        validate_csv(triage_rows(), config, tmp_path)


def test_the_validate_command_names_the_implausible_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    triage_rows(heart_rate="99999").to_csv(path, index=False)
    result = CliRunner().invoke(app, ["validate", "--domain", "medical_triage", str(path)])
    assert result.exit_code == 2
    out = " ".join(result.stdout.split())
    assert "row 1, column 'heart_rate': heart_rate 99999 is outside the plausible range 20–300" in out


class ConstantClassifier:
    """Stands in for the exported model: `predict` only needs logits of shape (n, C)."""

    def logits(self, texts, fields=None) -> np.ndarray:
        return np.tile([0.0, 1.0, 0.0], (len(texts), 1))


def test_predict_refuses_implausible_rows_and_converts_units(triage, tmp_path: Path) -> None:
    config = apply_overrides(triage, {"input_map.columns": {"temp_f": "temperature_c:F->C"}})
    predictor = Predictor(ConstantClassifier(), config, [1.0, 1.0, 1.0], "constant")
    source = tmp_path / "visits.csv"
    source.write_text(
        "visit_id,complaint,heart_rate,spo2,temp_f\n"
        "a,chest pain,80,98,100.4\n"
        "b,chest pain,99999,98,98.6\n"
        "c,short of breath,90,-40,98.6\n"
        "d,fever,inf,97,101\n",
        encoding="utf-8",
    )
    summary = predict_file(predictor, source, show_progress=False)
    output = pd.read_csv(summary.output)
    assert summary.predicted == 1 and summary.malformed == 3
    assert output["decision"].tolist()[0] == "urgent"
    assert output["error"].tolist()[1:] == [
        "row 2, column 'heart_rate': heart_rate 99999 is outside the plausible range 20–300 "
        "(pack.yaml fields.heart_rate min/max)",
        "row 3, column 'spo2': spo2 -40% is outside the plausible range 30–100% (pack.yaml fields.spo2 min/max)",
        "row 4, column 'heart_rate': 'inf' is not a finite number (int expected)",
    ]
    rendered = predictor.render([{"complaint": "chest pain", "temp_f": "101.3"}], "input", row_numbers=[1])
    assert rendered.inputs == ["chest pain | temp 38.5 C (fever)"]


def test_render_row_is_unchanged_for_a_valid_value(triage) -> None:
    fields = {f.name: f for f in triage.columns.fields}
    assert render_row("fever", {"temperature_c": 38.4}, [fields["temperature_c"]]) == "fever | temp 38.4 C (fever)"


@pytest.mark.shared_data
def test_the_mimic_demo_in_fahrenheit_has_one_temperature_outside_the_range(shared_datasets: Path) -> None:
    columns = {"chiefcomplaint": "text", "acuity": "label", "temperature": "temperature_c:F->C"}
    config = apply_overrides(
        load_pack("medical_triage").config,
        {"input_map.columns": columns, "input_map.labels": {"1": "emergent", "2": "emergent", "3": "urgent"}},
    )
    path = shared_datasets / "triage_mimic_iv_ed_demo" / "triage.csv"
    _, report, _ = validate_frame(read_table(path), config, path)
    implausible = [(i.row, i.message) for i in report.errors if i.column == "temperature_c"]
    # stay 34992024 has 36.5: written in °C in a °F column (PROVENANCE.md); 2.5 °C after conversion
    assert implausible == [
        (152, "temperature_c 2.5 C is outside the plausible range 25–45 C (pack.yaml fields.temperature_c min/max)")
    ]
