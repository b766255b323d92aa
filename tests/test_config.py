"""Pack configs are validated once, with messages that name the key, the value and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from toolkit.config import apply_overrides, load_pack_config, validate_pack_config
from toolkit.errors import ConfigError
from toolkit.packs import available_packs, load_pack

from .conftest import REPO_ROOT


def finance_dict() -> dict:
    return yaml.safe_load((REPO_ROOT / "domains" / "finance_risk" / "pack.yaml").read_text())


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
def test_shipped_packs_validate(pack: str) -> None:
    config = load_pack(pack).config
    assert config.ordinal is True
    assert config.critical_label in config.label_names
    assert len(config.teachers) >= 2


def test_both_packs_are_found_by_name() -> None:
    assert {"finance_risk", "medical_triage"} <= set(available_packs())


def test_unknown_key_is_named() -> None:
    data = finance_dict()
    data["distill"]["temprature"] = 3
    with pytest.raises(ConfigError, match=r"key `distill.temprature`: Extra inputs are not permitted"):
        validate_pack_config(data, "pack.yaml")


def test_out_of_range_value_names_key_value_and_bound() -> None:
    data = finance_dict()
    data["distill"]["temperature"] = -1
    with pytest.raises(ConfigError) as caught:
        validate_pack_config(data, "pack.yaml")
    assert "distill.temperature" in caught.value.message
    assert "greater than 0" in caught.value.message
    assert "-1" in caught.value.message


def test_critical_label_must_be_a_label() -> None:
    data = finance_dict()
    data["critical_label"] = "severe"
    with pytest.raises(ConfigError, match=r"critical_label: 'severe' is not one of the labels"):
        validate_pack_config(data, "pack.yaml")


def test_unknown_teacher_kind_lists_allowed_kinds() -> None:
    data = finance_dict()
    data["teachers"][0]["kind"] = "xgboost"
    allowed = r"'sklearn', 'tabular', 'hf', 'llm', 'openai' or 'rules'"
    with pytest.raises(ConfigError, match=rf"teachers.0.kind`: Input should be {allowed} \(got 'xgboost'\)"):
        validate_pack_config(data, "pack.yaml")


def test_missing_pack_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="pack config not found"):
        load_pack_config(tmp_path / "pack.yaml")


def test_override_changes_one_key_and_revalidates() -> None:
    config = load_pack("finance_risk").config
    changed = apply_overrides(config, {"distill.temperature": 4.0})
    assert changed.distill.temperature == 4.0
    assert changed.distill.alpha == config.distill.alpha
    with pytest.raises(ConfigError, match=r"key `distill.nope` does not exist"):
        apply_overrides(config, {"distill.nope": 1})
    with pytest.raises(ConfigError, match="distill.alpha"):
        apply_overrides(config, {"distill.alpha": 2})


def test_unknown_pack_lists_available_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_pack("retail_banking")
    assert "not found" in caught.value.message
    assert "finance_risk" in (caught.value.hint or "")
