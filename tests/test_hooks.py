"""A pack's hooks are typed: the three allowed keys, each with a Protocol its function must accept."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest
import yaml

from toolkit.config import HOOK_NAMES, HooksSpec, validate_pack_config
from toolkit.errors import ConfigError
from toolkit.hooks import MetricsHook, RulesHook, SyntheticHook
from toolkit.packs import load_pack

from .conftest import REPO_ROOT

PROTOCOLS = {"synthetic": SyntheticHook, "rules": RulesHook, "metrics": MetricsHook}


def finance_dict() -> dict:
    return yaml.safe_load((REPO_ROOT / "domains" / "finance_risk" / "pack.yaml").read_text())


def test_a_misspelled_hook_is_an_error_naming_the_key_and_the_allowed_ones() -> None:
    data = finance_dict()
    data["hooks"]["metric"] = data["hooks"].pop("metrics")
    with pytest.raises(ConfigError) as caught:
        validate_pack_config(data, "pack.yaml")
    assert caught.value.message == (
        "pack.yaml: key `hooks`: unknown hook 'metric'; allowed hooks: synthetic, rules, metrics"
    )


def test_declared_hooks_are_the_ones_given() -> None:
    hooks = HooksSpec(rules="rules.py:score")
    assert hooks.declared() == {"rules": "rules.py:score"}
    assert "rules" in hooks and "metrics" not in hooks
    assert hooks["rules"] == "rules.py:score"


def test_every_hook_name_has_a_protocol() -> None:
    assert set(HOOK_NAMES) == set(PROTOCOLS) == set(HooksSpec.model_fields)


@pytest.mark.parametrize("pack", ["finance_risk", "medical_triage"])
@pytest.mark.parametrize("name", HOOK_NAMES)
def test_shipped_hooks_accept_the_call_their_protocol_describes(pack: str, name: str) -> None:
    function = load_pack(pack).hook(name)
    expected = inspect.signature(PROTOCOLS[name].__call__)
    parameters = [p for p in expected.parameters.values() if p.name != "self"]
    # every argument the toolkit passes (by keyword, as its callers do) binds to the pack's function
    inspect.signature(function).bind(**{p.name: None for p in parameters})
    hints = typing.get_type_hints(PROTOCOLS[name].__call__)
    assert set(hints) == {p.name for p in parameters} | {"return"}


def test_shipped_rules_hook_returns_points_per_label() -> None:
    pack = load_pack("finance_risk")
    points = pack.hook("rules")(["salary deposit from payroll", "deposits just under the reporting threshold"])
    assert points.shape == (2, len(pack.config.label_names))
    assert np.argmax(points, axis=1).tolist() == [0, 2]
