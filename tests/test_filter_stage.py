"""The filter stage inside a run (tiny models): its files, its counts, and what the student then trains on."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from toolkit.config import PackConfig
from toolkit.filtering.budget import plan_filter
from toolkit.pipeline import RunRequest, run

from .conftest import REPO_ROOT, tiny_filter_overrides, tiny_overrides

POOL = REPO_ROOT / "data_templates" / "finance_risk" / "unlabeled.csv"


@pytest.fixture(scope="module")
def filtered_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, finance_sample: Path):
    out = tmp_path_factory.mktemp("filtered")
    pool = out.parent / "pool.csv"
    pd.read_csv(POOL, dtype=str).head(20).to_csv(pool, index=False)
    overrides = {**tiny_overrides(tiny_model_dir), **tiny_filter_overrides(), "filter.unlabeled": str(pool)}
    lines: list[str] = []
    run(RunRequest(domain="finance_risk", data=finance_sample, out=out, overrides=overrides), log=lines.append)
    return out, overrides, lines


def test_filter_writes_its_files_and_accounts_for_every_candidate(filtered_run) -> None:
    out, _, _ = filtered_run
    for name in ("kept.parquet", "rejected.parquet", "label_issues.csv", "summary.json", "pairs.jsonl", "ppo_log.json"):
        assert (out / "filter" / name).is_file(), name
    assert (out / "filter" / "reward_model" / "standardisation.json").is_file()
    assert (out / "filter" / "generator" / "config.json").is_file()
    kept = pd.read_parquet(out / "filter" / "kept.parquet")
    rejected = pd.read_parquet(out / "filter" / "rejected.parquet")
    summary = json.loads((out / "filter" / "summary.json").read_text())
    assert summary["candidates"]["total"] == 12 + 20 == len(kept) + len(rejected)
    assert rejected["reason"].str.len().gt(0).all()
    assert set(kept["label"]) <= {"low", "medium", "high"}
    assert kept[["p_low", "p_medium", "p_high"]].sum(axis=1).round(6).eq(1).all()
    reward = summary["reward_model"]
    assert reward["pairs"]["agreement"] > 0
    # the overall pairwise accuracy is the per-source one weighted by each source's held-out pairs
    pairs = [json.loads(line) for line in (out / "filter" / "pairs.jsonl").read_text().splitlines()]
    held_out = Counter(p["source"] for p in pairs if p["role"] == "held_out")
    by_source = reward["pairwise_accuracy_by_source"]
    weighted = sum(by_source[source] * n for source, n in held_out.items()) / held_out.total()
    assert reward["pairs"]["held_out"] == held_out.total()
    assert reward["pairwise_accuracy"] == pytest.approx(weighted)
    assert summary["ppo"]["steps"] == 2


def test_the_budget_is_timed_on_the_transformer_teachers_own_work(filtered_run) -> None:
    out, _, _ = filtered_run
    manifest = json.loads((out / "manifest.json").read_text())
    teachers = manifest["stages"]["teachers"]
    fitted = json.loads((out / "teachers" / "tiny_bert" / "fitted.json").read_text())["seconds"]
    transformer = fitted + teachers["teachers"]["tiny_bert"]["labeling"]["seconds"]
    train_rows = len(pd.read_parquet(out / "data" / "train.parquet"))
    expected = plan_filter(PackConfig.model_validate(manifest["config"]), train_rows, transformer).seconds
    budget = json.loads((out / "filter" / "summary.json").read_text())["budget"]
    assert (
        expected is not None and budget["seconds"] == expected
    )  # not the whole stage's time, which adds TF-IDF and the ensembles
    assert set(budget["box_seconds"]) == {"generator_sft", "reward_model", "ppo", "generation"}


def test_the_logs_show_reward_per_ppo_step(filtered_run) -> None:
    _, _, lines = filtered_run
    steps = [line for line in lines if line.startswith("ppo step")]
    assert len(steps) == 2 and "mean reward" in steps[0] and "teacher confidence" in steps[0]
    assert any(line.startswith("reward model: pairwise accuracy on") for line in lines)


def test_student_trains_on_kept_samples(filtered_run) -> None:
    out, _, lines = filtered_run
    kept = len(pd.read_parquet(out / "filter" / "kept.parquet"))
    assert any(line.startswith(f"distill: {kept} filtered samples added to") for line in lines)


def test_grpo_tunes_the_generator_when_the_config_asks(filtered_run, tmp_path: Path, finance_sample: Path) -> None:
    out, overrides, _ = filtered_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    lines: list[str] = []
    grpo = {"filter.generator.algorithm": "grpo", "filter.generator.grpo_generations": 2}
    request = RunRequest(domain="finance_risk", data=finance_sample, out=copy, overrides={**overrides, **grpo})
    run(request, log=lines.append, until="filter")
    assert "[teachers] unchanged since the last run, skipped" in lines
    assert any(line.startswith("generator: GRPO for 4 episodes") for line in lines)
    steps = [line for line in lines if line.startswith("grpo step")]
    assert len(steps) == 2 and "teacher confidence" in steps[0]
    summary = json.loads((copy / "filter" / "summary.json").read_text())
    assert summary["ppo"]["steps"] == 2 and summary["candidates"]["total"] == 12 + 20
    logged = json.loads((copy / "filter" / "ppo_log.json").read_text())["steps"]
    assert [entry["step"] for entry in logged] == [1, 2] and all(entry["reward_model"] is not None for entry in logged)


def test_label_issue_rows_are_dropped_only_when_asked(filtered_run, tmp_path: Path, finance_sample: Path) -> None:
    out, overrides, lines = filtered_run
    assert not any("left out" in line for line in lines)  # the default keeps every labeled row
    issues = pd.read_csv(out / "filter" / "label_issues.csv")
    assert list(issues.columns[:4]) == ["split", "row", "id", "text"]
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    again: list[str] = []
    run(
        RunRequest(
            domain="finance_risk",
            data=finance_sample,
            out=copy,
            overrides={**overrides, "filter.label_issues.drop": True, "filter.use_for_distill": False},
        ),
        log=again.append,
    )
    flagged_train = int((issues["split"] == "train").sum())
    assert any(line.startswith(f"distill: {flagged_train} training rows flagged") for line in again), again
    assert "[data] unchanged since the last run, skipped" in again
    assert "[teachers] unchanged since the last run, skipped" in again
    assert "[filter] unchanged since the last run, skipped" in again  # the switches only change what distill reads


def test_a_crash_in_selection_costs_only_selection(
    tmp_path: Path, tiny_model_dir: Path, finance_sample: Path, monkeypatch
):
    from toolkit.filtering import stage

    overrides = {**tiny_overrides(tiny_model_dir), **tiny_filter_overrides()}
    request = RunRequest(domain="finance_risk", data=finance_sample, out=tmp_path / "run", overrides=overrides)
    real_select = stage._select

    def crash(*args, **kwargs):
        raise RuntimeError("killed during selection")

    monkeypatch.setattr(stage, "_select", crash)
    with pytest.raises(RuntimeError, match="killed during selection"):
        run(request, log=lambda _: None)
    monkeypatch.setattr(stage, "_select", real_select)
    lines: list[str] = []
    run(request, log=lines.append)
    restored = [line for line in lines if "earlier in this run, restored" in line]
    assert len(restored) == 4, lines  # SFT generator, reward model, PPO generator, candidates
    assert not any(line.startswith("ppo step") for line in lines)
    assert (tmp_path / "run" / "filter" / "kept.parquet").is_file()
