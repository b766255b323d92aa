"""Stage-by-stage runs (`run(..., until=)`) and the readers the notebooks show after each stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tiny_overrides
from toolkit import explore
from toolkit.errors import ConfigError
from toolkit.pipeline import RunRequest, run


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, finance_sample: Path):
    request = RunRequest(
        domain="finance_risk",
        data=finance_sample,
        out=tmp_path_factory.mktemp("staged") / "finance",
        overrides=tiny_overrides(tiny_model_dir),
    )
    return request, run(request, log=lambda _: None, until="teachers")


def test_until_stops_after_the_named_stage_and_the_next_call_continues(staged) -> None:
    request, first = staged
    assert first.metrics is None
    manifest = json.loads((first.run_dir / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"data", "teachers"}
    balance = explore.class_balance(first.run_dir)
    assert (
        list(balance.index) == ["low", "medium", "high"] and balance[["train", "validation", "test"]].sum().sum() == 150
    )
    assert explore.teacher_table(first.run_dir).loc["tfidf_lr", "kind"] == "sklearn"
    with pytest.raises(ConfigError, match="run the evaluate stage first"):
        explore.metrics(first.run_dir)

    lines: list[str] = []
    final = run(request, log=lines.append)
    assert "[data] unchanged since the last run, skipped" in lines
    assert "[teachers] unchanged since the last run, skipped" in lines and "[distill] running" in lines
    assert final.metrics == explore.metrics(final.run_dir)
    assert set(explore.models_table(final.run_dir).index) >= {"student", "tfidf_lr", "ensemble_weighted"}
    assert list(explore.targets_table(final.run_dir).index) == ["recall[high]", "precision[high]", "macro_f1"]
    assert [caption for _, caption in explore.evaluation_figures(final.run_dir)][1] == "Confusion matrix: student"
    assert len(explore.plot_training(final.run_dir).axes) == 3
    assert len(explore.plot_data(final.run_dir).axes) == 2


def test_until_names_the_stages_when_wrong(staged) -> None:
    request, _ = staged
    with pytest.raises(ConfigError, match="stages in order: data, teachers, filter, distill, evaluate, compress"):
        run(request, log=lambda _: None, until="train")
