"""Deprecated third-party APIs stay behind the one module that wraps each, so that replacing one touches one file."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRAPPERS = {
    r"\btorch\.ao\b|from torch import ao\b": {"toolkit/compress/quantize.py"},  # eager dynamic INT8
    r"\btrl\.experimental\b": {"toolkit/filtering/trl_backend.py"},  # TRL's PPO, gone from TRL 1.13
}


def test_deprecated_apis_are_used_only_in_their_wrapper_module():
    sources = [p for folder in ("toolkit", "domains", "bench", "tests") for p in (REPO / folder).rglob("*.py")]
    for pattern, allowed in WRAPPERS.items():
        users = {str(p.relative_to(REPO)) for p in sources if re.search(pattern, p.read_text())}
        users.discard("tests/test_deprecated_apis.py")
        assert users == allowed, f"{pattern}: used in {sorted(users - allowed)}, only {sorted(allowed)} may"
