"""Issue 18: recipe selection on validation, baselines that ship when they win, the reward floor, typed fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from toolkit.config import SelectionSpec
from toolkit.data.column_map import apply_input_map, typed_field
from toolkit.data.rendering import render_row
from toolkit.distill.selection import CandidateResult, choose, over_budget
from toolkit.filtering.selection import Reference, select
from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, run
from toolkit.predict import Predictor
from toolkit.transformer_models import load_tokenizer

from .conftest import tiny_compress_overrides, tiny_overrides

LABELS = ["low", "medium", "high"]


def result(name: str, value: float | None, samples: tuple[str, ...] = (), baseline: bool = False):
    return CandidateResult(name, "", baseline, samples, value, {}, 1.0)


def test_choose_takes_the_best_on_validation_and_ties_to_fewer_samples() -> None:
    results = [
        result("recipe", 0.70, ("generated",)),
        result("finetune", 0.75, baseline=True),
        result("full", None),  # not trained (budget)
        result("recipe_without_generated", 0.75),
    ]
    assert choose(results).name == "finetune"  # a tie with fewer samples: the earlier one
    assert choose(results[:1] + results[3:]).name == "recipe_without_generated"
    assert choose([result("recipe", 0.8, ("generated",)), result("finetune", 0.79, baseline=True)]).name == "recipe"


def test_the_budget_counts_only_candidates_after_the_recipe_and_the_baseline() -> None:
    results = [result("recipe", 0.7), result("finetune", 0.7)]
    results = [CandidateResult(r.name, "", False, (), 0.7, {}, 10.0) for r in results]
    assert not over_budget(results, budget=1.0) and over_budget(results, budget=0.5)
    results.append(CandidateResult("full", "", False, (), 0.7, {}, 10.0))
    assert over_budget(results, budget=1.0) and over_budget(results, budget=1.5)  # a second would need 2x
    assert not over_budget(results, budget=2.0)


def with_split_column(source: Path, folder: Path, test_labels_rotated: bool) -> Path:
    """The sample with a fixed split (100 / 25 / 25); optionally every test label moved one level up."""
    frame = pd.read_csv(source, dtype=str)
    frame["split"] = ["train"] * 100 + ["validation"] * 25 + ["test"] * (len(frame) - 125)
    if test_labels_rotated:
        test = frame["split"] == "test"
        frame.loc[test, "risk"] = frame.loc[test, "risk"].map({"low": "medium", "medium": "high", "high": "low"})
    path = folder / ("rotated.csv" if test_labels_rotated else "plain.csv")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_model_dir: Path, finance_sample: Path):
    """Two runs on the same train and validation rows whose test labels disagree, with three candidates."""
    folder = tmp_path_factory.mktemp("selection")
    overrides = {
        **tiny_overrides(tiny_model_dir),
        "columns.split": "split",
        "recipe_search.variants": [{"name": "soft", "overrides": {"distill.alpha": 0.2, "distill.temperature": 4.0}}],
    }
    runs = {}
    for rotated in (False, True):
        data = with_split_column(finance_sample, folder, rotated)
        request = RunRequest(domain="finance_risk", data=data, out=folder / data.stem, overrides=overrides)
        runs[rotated] = run(request, log=lambda _: None, until="evaluate")
    return runs


def test_selection_chooses_on_validation_and_test_never_changes_it(two_runs) -> None:
    selections = {k: json.loads((r.run_dir / "student" / "selection.json").read_text()) for k, r in two_runs.items()}
    plain, rotated = selections[False], selections[True]
    assert [c["name"] for c in plain["candidates"]] == ["recipe", "finetune", "soft"]
    assert plain["chosen"] == rotated["chosen"]
    assert [c["value"] for c in plain["candidates"]] == [c["value"] for c in rotated["candidates"]]
    # the chosen one is the best validation macro F1, recomputed from each candidate's stored probabilities
    run_dir = two_runs[False].run_dir
    y_val = pd.read_parquet(run_dir / "data" / "validation.parquet")["label"].map(LABELS.index).to_numpy()
    scores = {}
    for c in plain["candidates"]:
        with np.load(run_dir / "student" / "candidates" / c["name"] / "probs.npz") as probs:
            scores[c["name"]] = f1_score(y_val, probs["validation"].argmax(1), average="macro", zero_division=0)
    assert plain["chosen"] == max(scores, key=lambda name: (round(scores[name], 6), -list(scores).index(name)))
    # ... while the test figures of the two runs disagree
    test_f1 = [r.metrics["models"]["student"]["test"]["macro_f1"] for r in two_runs.values()]
    assert test_f1[0] != test_f1[1]
    # the deployed student is the chosen candidate's model, and only its weights are kept
    chosen_probs = run_dir / "student" / "candidates" / plain["chosen"] / "probs.npz"
    with np.load(run_dir / "student" / "probs.npz") as deployed, np.load(chosen_probs) as chosen:
        np.testing.assert_array_equal(deployed["test"], chosen["test"])
    kept = [
        c["name"] for c in plain["candidates"] if (run_dir / "student" / "candidates" / c["name"] / "merged").exists()
    ]
    assert kept == [plain["chosen"]]


def test_report_compares_the_student_with_each_baseline_with_intervals(two_runs) -> None:
    metrics = two_runs[False].metrics
    assert "finetune_baseline" in metrics["models"]
    assert metrics["distilled"] in {"recipe", "soft"}  # the best distilled candidate, not the baseline
    versus = {v["baseline"]: v for v in metrics["versus_baselines"]}
    assert set(versus) == {"finetune_baseline", "tfidf_lr"}
    for v in versus.values():
        d = v["test_difference"]
        assert d["low"] <= d["difference"] <= d["high"]
        assert d["difference"] == pytest.approx(v["test"]["distilled"] - v["test"]["baseline"])
    report = (two_runs[False].run_dir / "report" / "report.md").read_text()
    assert "## Against the baselines a user would build" in report and "| finetune |" in report


def test_a_scikit_learn_baseline_that_wins_on_validation_is_shipped(tmp_path, tiny_model_dir, finance_sample) -> None:
    overrides = {
        **tiny_overrides(tiny_model_dir),
        **tiny_compress_overrides(),
        "recipe_search.teachers": True,
        "distill.learning_rate": 1e-9,  # the transformer candidates learn nothing: TF-IDF wins on validation
        "recipe_search.finetune_learning_rate": 1e-9,
    }
    request = RunRequest(domain="finance_risk", data=finance_sample, out=tmp_path / "run", overrides=overrides)
    outcome = run(request, log=lambda _: None)
    selection = json.loads((outcome.run_dir / "student" / "selection.json").read_text())
    assert selection["chosen"] == selection["deployed_teacher"] == "tfidf_lr"
    assert selection["baseline_chosen"]
    teacher_probs = outcome.run_dir / "teachers" / "tfidf_lr" / "probs.npz"
    with np.load(outcome.run_dir / "student" / "probs.npz") as deployed, np.load(teacher_probs) as teacher:
        np.testing.assert_array_equal(deployed["test"], teacher["test"])
    deploy = json.loads((outcome.run_dir / "export" / "deploy.json").read_text())
    assert deploy["variant"] == "tfidf_lr"
    predictor = Predictor.load(outcome.run_dir / "export")
    row = pd.read_csv(finance_sample, dtype=str).iloc[0].to_dict()
    prediction = predictor.predict(row)
    assert prediction.argmax_label in LABELS and sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert "scikit-learn baseline, shipped" in outcome.report_path.read_text()
    card = (outcome.run_dir / "report" / "MODEL_CARD.md").read_text()
    assert "It is a scikit-learn baseline, shipped as it is" in card and "- Base:" not in card


def test_the_reward_floor_rejects_low_reward_candidates_whatever_their_batch() -> None:
    candidates = pd.DataFrame(
        {
            "candidate_id": [f"gen-{i}" for i in range(6)],
            "source": "generated",
            "input": [f"a distinct text about case number {i} {'x' * i}" for i in range(6)],
            "label_hint": "low",
        }
    )
    rewards = {text: float(i) for i, text in enumerate(candidates["input"])}

    def score(batch: pd.DataFrame) -> pd.DataFrame:
        values = [rewards[t] for t in batch["input"]]
        return pd.DataFrame({"reward": values, "reward_model": values, "confidence": 1.0, "label": "low", "p_low": 1.0})

    spec = SelectionSpec(keep_share=1.0, near_duplicate=0.999)
    reference = Reference(train=["unrelated training text"], held_out=["another unrelated text"])
    kept, rejected = select(candidates, score, reference, spec, cap=100, reward_floor=3.5)
    assert sorted(kept["candidate_id"]) == ["gen-4", "gen-5"]
    assert rejected["reason"].str.startswith("below the reward floor").all()
    kept_all, _ = select(candidates, score, reference, spec, cap=100)
    assert len(kept_all) == 6


def test_star_fields_types_numeric_and_categorical_columns() -> None:
    config = load_pack("finance_risk").config
    config = config.model_copy(
        update={
            "input_map": config.input_map.model_copy(update={"columns": {"note": "text", "y": "label", "*": "fields"}})
        }
    )
    raw = pd.DataFrame(
        {
            "note": ["a", "b", "c"],
            "y": ["low", "high", "low"],
            "age": ["31", "45", ""],
            "rate": [0.5, 1.25, None],
            "job": ["A171", "A172", "A173"],
        }
    )
    mapped, typed, notes = apply_input_map(raw, config, "file.csv")
    added = {f.name: f.type for f in typed.columns.fields if f.name in ("age", "rate", "job")}
    assert added == {"age": "int", "rate": "float", "job": "category"}
    assert typed.input_map.columns["age"] == "age" and "*" not in typed.input_map.columns  # fixed for later files
    assert any("`*=fields`" in note for note in notes)
    assert typed_field("mixed", pd.Series(["1", "2", "three"])).type == "category"


def test_fields_survive_truncation_of_a_long_text() -> None:
    config = load_pack("medical_triage").config
    long_text = "patient describes a long history of intermittent symptoms " * 30
    values = {f.name: None for f in config.columns.fields}
    values["spo2"] = 84
    rendered = render_row(long_text, values, config.columns.fields, config.render)
    tokenizer = load_tokenizer("minilm")
    kept = tokenizer.decode(tokenizer(rendered, truncation=True, max_length=32)["input_ids"])
    assert "spo2 84" in kept.lower()
    short = render_row("chest pain", values, config.columns.fields, config.render)
    assert short.startswith("chest pain")  # short texts keep the template's order


def test_a_resumed_selection_restores_finished_candidates_and_retrains_only_missing_weights(two_runs, tmp_path) -> None:
    import shutil

    from toolkit.distill.stage import run_distill
    from toolkit.run_context import open_run

    run_dir = tmp_path / "copy"
    shutil.copytree(two_runs[False].run_dir, run_dir)
    selection = json.loads((run_dir / "student" / "selection.json").read_text())
    chosen = run_dir / "student" / "candidates" / selection["chosen"]
    shutil.rmtree(chosen / "merged")  # as if the run died after choosing, before the weights were copied
    lines: list[str] = []
    ctx = open_run(run_dir, log=lines.append)
    run_distill(ctx, ctx.manifest.data["stages"]["distill"]["fingerprint"])
    restored = [line for line in lines if "trained earlier in this run, restored" in line]
    assert len(restored) == len(selection["candidates"])
    assert (chosen / "merged" / "config.json").is_file() and (run_dir / "student" / "merged" / "config.json").is_file()
    assert json.loads((run_dir / "student" / "selection.json").read_text())["chosen"] == selection["chosen"]
