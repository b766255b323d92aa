"""Rows become model inputs that read the way an analyst or clinician would write them."""

from __future__ import annotations

import pytest

from toolkit.config import Band, FieldSpec, RenderSpec, validate_pack_config
from toolkit.data.rendering import render_row
from toolkit.errors import ConfigError
from toolkit.packs import load_pack

SPO2 = FieldSpec(name="spo2", type="int", label="SpO2", unit="%", bands=[Band(tag="low", below=92)])
HR = FieldSpec(name="heart_rate", type="int", label="HR", bands=[Band(tag="high", above=110)])


def test_band_tag_marks_out_of_range_values() -> None:
    assert render_row("short of breath", {"spo2": 88.0}, [SPO2]) == "short of breath | SpO2 88% (low)"
    assert render_row("short of breath", {"spo2": 97.0}, [SPO2]) == "short of breath | SpO2 97%"


def test_missing_values_leave_no_dangling_separators() -> None:
    assert render_row("cough", {"spo2": None, "heart_rate": float("nan")}, [SPO2, HR]) == "cough"
    assert render_row(None, {"spo2": 95.0}, [SPO2]) == "SpO2 95%"


def test_template_places_single_fields() -> None:
    spec = RenderSpec(template="{heart_rate}; complaint: {text}")
    assert render_row("dizzy", {"heart_rate": 130.0}, [HR], spec) == "HR 130 (high); complaint: dizzy"


def test_large_amounts_get_thousands_separators() -> None:
    amount = FieldSpec(name="amount", type="float", unit=" USD", bands=[Band(tag="large", above=10000)])
    assert render_row("wire", {"amount": 12500.0}, [amount]) == "wire | amount 12,500 USD (large)"


def test_unknown_template_placeholder_is_a_config_error() -> None:
    data = load_pack("medical_triage").config.model_dump()
    data["render"] = {"template": "{text} {bp}"}
    with pytest.raises(ConfigError, match=r"render.template: unknown placeholder \{bp\}; allowed: \{text\}"):
        validate_pack_config(data, "pack.yaml")
