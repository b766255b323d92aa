"""The notebooks as files: stored without outputs, a parameters cell each, thin cells that call `toolkit`.
(CI executes them too: `make test` runs nbmake on notebooks/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").rglob("*.ipynb"))
SERIES = ("01_data", "02_teachers", "03_filtering", "04_distill_lora", "05_evaluate", "06_compress_deploy")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_every_pack_has_the_numbered_series() -> None:
    for pack in ("finance_risk", "medical_triage"):
        assert [p.stem for p in sorted((REPO_ROOT / "notebooks" / pack).glob("*.ipynb"))] == list(SERIES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "clear the outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_notebook_has_a_parameters_cell_and_thin_code_cells(path: Path) -> None:
    cells = _cells(path)
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert any("RUN_DIR =" in source for source in code[:2]), "the first code cells hold the parameters"
    assert any("## Parameters" in "".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for source in code:  # logic belongs in toolkit/: no definitions, no long cells
        assert "def " not in source and "class " not in source, source
        assert len(source.splitlines()) <= 12, source
