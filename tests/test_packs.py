"""Packs are found by name, their hooks load from their folder, and core never imports a pack."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from toolkit.packs import load_pack

from .conftest import REPO_ROOT


def test_synthetic_hook_is_seeded() -> None:
    generate = load_pack("finance_risk").hook("synthetic")
    assert generate(n_rows=50, seed=3).equals(generate(n_rows=50, seed=3))
    assert not generate(n_rows=50, seed=3).equals(generate(n_rows=50, seed=4))


def test_missing_hook_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"key `hooks.domain_metrics` is missing"):
        load_pack("medical_triage").hook("domain_metrics")


def test_core_never_imports_a_pack() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "toolkit").rglob("*.py")
        if "import domains" in path.read_text() or "from domains" in path.read_text()
    ]
    assert offenders == []
