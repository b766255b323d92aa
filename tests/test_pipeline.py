"""The walking skeleton end to end on a small sample with a tiny BERT built from a config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from toolkit.metrics.bootstrap import confusion_figures
from toolkit.pipeline import RunRequest, run
from toolkit.threads import usable_cores

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, finance_sample: Path):
    out = tmp_path_factory.mktemp("run") / "finance"
    request = RunRequest(domain="finance_risk", data=finance_sample, out=out, overrides=tiny_overrides(tiny_model_dir))
    return request, run(request, log=lambda _: None)


def test_every_stage_writes_its_files(tiny_run) -> None:
    _, result = tiny_run
    root = result.run_dir
    for relative in [
        "data/train.parquet",
        "data/validation.parquet",
        "data/test.parquet",
        "data/validation_report.json",
        "teachers/tfidf_lr/probs.npz",
        "teachers/tiny_bert/model",
        "teachers/ensemble/probs.npz",
        "student/adapter/adapter_config.json",
        "student/merged/config.json",
        "student/history.json",
        "report/metrics.json",
        "report/report.md",
        "manifest.json",
    ]:
        assert (root / relative).exists(), relative


def test_metrics_cover_every_model_and_class(tiny_run) -> None:
    _, result = tiny_run
    models = result.metrics["models"]
    assert set(models) == {
        "majority_baseline",
        "tfidf_lr",
        "tiny_bert",
        "ensemble_mean",
        "ensemble_weighted",
        "ensemble_confidence",
        "ensemble_routing",
        "finetune_baseline",
        "student",
    }
    for entry in models.values():
        test = entry["test"]
        assert set(test["per_class"]) == {"low", "medium", "high"}
        assert sum(c["support"] for c in test["per_class"].values()) == test["n"] == 22
        # the headline figures are those of the model's own confusion matrix
        recomputed = confusion_figures(np.array(test["confusion_matrix"]), ["low", "medium", "high"])
        assert test["macro_f1"] == pytest.approx(recomputed["macro_f1"])
        assert test["accuracy"] == pytest.approx(recomputed["accuracy"])


def test_manifest_records_config_versions_seed_and_timings(tiny_run) -> None:
    _, result = tiny_run
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["seed"] == 13
    assert manifest["config"]["distill"]["epochs"] == 1
    assert manifest["versions"]["transformers"].startswith("5.")
    assert set(manifest["stages"]) == {"data", "teachers", "distill", "evaluate"}
    timings = manifest["timings"]
    stage_seconds = sum(stage["seconds"] for stage in manifest["stages"].values())
    assert stage_seconds == pytest.approx(timings["stages_seconds"], abs=0.1)
    assert timings["stages_seconds"] <= timings["wall_seconds"] + 0.1


def test_report_shows_models_side_by_side(tiny_run) -> None:
    _, result = tiny_run
    report = result.report_path.read_text()
    assert "| student | student, deployed: recipe (the pack's recipe) |" in report
    assert "| majority_baseline | baseline |" in report


def test_second_run_skips_unchanged_stages(tiny_run) -> None:
    request, first = tiny_run
    lines: list[str] = []
    second = run(request, log=lines.append)
    assert sum("unchanged since the last run, skipped" in line for line in lines) == 4
    figures = {k: v for k, v in second.metrics.items() if k != "timings"}
    assert figures == {k: v for k, v in first.metrics.items() if k != "timings"}
    assert not any(stage["ran"] for stage in second.metrics["timings"]["stages"])  # reused, not counted


def test_stage_timings_add_up_to_the_run(tiny_run) -> None:
    _, result = tiny_run
    timings = result.metrics["timings"]
    stages = {e["stage"]: e for e in timings["stages"]}
    assert set(stages) == {"data", "teachers", "distill", "evaluate"} and all(e["ran"] for e in stages.values())
    assert abs(timings["stages_seconds"] - timings["wall_seconds"]) <= max(3.0, 0.1 * timings["wall_seconds"])
    assert abs(sum(e["share"] for e in stages.values()) - 1) < 0.01
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    rows = sum(manifest["stages"]["data"]["split_sizes"].values())
    assert timings["rows"] == rows  # the rows the data stage kept
    for entry in stages.values():
        assert entry["rows_per_second"] == pytest.approx(rows / entry["seconds"], rel=0.01)
        assert entry["peak_memory_mb"] > 50  # a Python process with torch loaded
    assert set(stages["distill"]["steps"]) >= {"recipe", "finetune"}
    report = result.report_path.read_text()
    assert "## Stage timings" in report and "| distill |" in report


def test_threads_are_set_once_and_recorded(tiny_run) -> None:
    _, result = tiny_run
    threads = json.loads((result.run_dir / "manifest.json").read_text())["threads"]
    assert threads["source"] == "usable cores" and threads["torch"] == threads["threads"] == usable_cores()
    assert all(n == threads["threads"] for n in threads["blas_pools"].values())


def test_same_seed_gives_same_metrics(tiny_run, tmp_path: Path) -> None:
    request, first = tiny_run
    again = run(
        RunRequest(domain=request.domain, data=request.data, out=tmp_path / "again", overrides=request.overrides),
        log=lambda _: None,
    )
    assert again.metrics["models"] == first.metrics["models"]


def test_changing_the_recipe_reruns_only_distill_and_evaluate(tiny_run, tmp_path: Path) -> None:
    import shutil

    request, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(request.out, copy)
    lines: list[str] = []
    run(
        RunRequest(
            domain=request.domain,
            data=request.data,
            out=copy,
            overrides={**request.overrides, "distill.temperature": 4.0},
        ),
        log=lines.append,
    )
    skipped = [line.split("]")[0].strip("[") for line in lines if "skipped" in line]
    assert skipped == ["data", "teachers"]


def test_every_model_has_intervals_calibration_domain_figures_and_a_policy(tiny_run) -> None:
    _, result = tiny_run
    for name, entry in result.metrics["models"].items():
        test = entry["test"]
        low, high = test["intervals"]["macro_f1"]["low"], test["intervals"]["macro_f1"]["high"]
        assert low <= test["macro_f1"] <= high, name
        assert {"ece", "brier", "reliability"} <= set(test["calibration"])
        assert test["calibration_scaled"]["temperature"] > 0
        assert set(test["auc"]["per_class"]) == {"low", "medium", "high"}
        assert "quadratic_weighted_kappa" in test and "expected_cost" in test  # ordinal pack with a cost matrix
        assert set(test["domain"]) >= {"ks", "gini"} or test["per_class"]["high"]["support"] in (0, 22)
        assert [t["target"] for t in entry["policy"]["targets"]] == ["recall[high]", "precision[high]", "macro_f1"]
    targets = result.metrics["targets"]
    assert all(t["status"] in ("PASS", "FAIL") and "interval" in t for t in targets)
    report = result.report_path.read_text()
    assert "decision policy tuned on validation" in report and "95% interval" in report


def test_compare_prints_runs_side_by_side(tiny_run) -> None:
    from typer.testing import CliRunner

    from toolkit.cli import app

    _, result = tiny_run
    outcome = CliRunner().invoke(app, ["compare", str(result.run_dir), str(result.run_dir), "--model", "all"])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.count("student") == 2 and "ensemble_weighted" in outcome.output
    missing = CliRunner().invoke(app, ["compare", str(result.run_dir.parent / "nowhere")])
    assert missing.exit_code == 2 and "no report/metrics.json" in missing.output


def test_evaluate_a_saved_model_on_new_data(tiny_run, finance_sample: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toolkit.cli import app

    _, result = tiny_run
    out = tmp_path / "evaluation.json"
    args = ["evaluate", "--model", str(result.run_dir), "--data", str(finance_sample), "--output", str(out)]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    figures = json.loads(out.read_text())
    assert figures["rows"] == 150 and set(figures["argmax"]["per_class"]) == {"low", "medium", "high"}
    assert [t["target"] for t in figures["policy"]["targets"]] == ["recall[high]", "precision[high]", "macro_f1"]
    cascade = figures["deferral"]  # the run's cascade, as tuned on its validation split, on the new rows
    assert cascade["test"]["rows"] == 150 and sum(cascade["test"]["answered_by"].values()) == 150
    assert [t["target"] for t in cascade["targets"]] == ["recall[high]", "precision[high]"]
    assert "cascade: the model answers" in outcome.output and "deferral target recall[high]" in outcome.output
    bad = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path), "--data", str(finance_sample)])
    assert bad.exit_code == 2 and "not inside a run folder" in bad.output


def test_html_report_is_self_contained_with_its_plots(tiny_run) -> None:
    import base64
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images: list[tuple[str, bytes]] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                assert attrs["src"].startswith("data:image/png;base64,")  # nothing loaded from elsewhere
                self.images.append((attrs["alt"], base64.b64decode(attrs["src"].split(",", 1)[1])))

    _, result = tiny_run
    page = (result.run_dir / "report" / "report.html").read_text()
    parser = Images()
    parser.feed(page)
    captions = [alt for alt, _ in parser.images]
    assert any(c.startswith("Teachers, ensembles and student") for c in captions)
    assert "Confusion matrix: student" in captions and any(c.startswith("Reliability diagram") for c in captions)
    assert any(c.startswith("Precision-recall") for c in captions)
    assert all(png.startswith(b"\x89PNG") and len(png) > 5000 for _, png in parser.images)
    assert "<h2>Targets" in page and ("PASS" in page or "FAIL" in page)
    assert "<h2>Domain figures" in page and "<th>QWK</th>" in page  # finance is ordinal
    assert "## Domain figures (test split, plain argmax)" in (result.run_dir / "report" / "report.md").read_text()
    assert any(c.startswith("Risk–coverage on test") for c in captions)
    assert "Defer when unsure" in page and "Conformal label sets" in page


def test_every_model_gets_a_confidence_score_and_a_risk_coverage_curve(tiny_run) -> None:
    _, result = tiny_run
    metrics = result.metrics
    for name, entry in metrics["models"].items():
        selective = entry["selective"]
        assert selective["score"] in ("top_probability", "margin", "teacher_agreement"), name
        curve = selective["test_curve"]
        assert curve["coverage"][-1] == 1.0 and len(curve["risk"]) == len(curve["coverage"])
        assert all(lo <= hi for lo, hi in zip(curve["risk_low"], curve["risk_high"], strict=True))
        # the errors among the rows answered at any coverage are at most the errors at full coverage
        errors = [risk * rows for risk, rows in zip(curve["risk"], curve["rows"], strict=True)]
        assert all(e <= errors[-1] + 1e-2 for e in errors)
        # at full coverage the risk is the model's test error at the argmax
        assert curve["risk"][-1] == pytest.approx(1 - entry["test"]["accuracy"], abs=1e-3)
    assert set(metrics["models"]["student"]["selective"]["aurc_validation"]) <= {
        "top_probability",
        "margin",
        "teacher_agreement",
    }


def test_the_cascade_is_reported_on_test_with_intervals_and_who_is_referred(tiny_run) -> None:
    _, result = tiny_run
    deferral = result.metrics["deferral"]
    test = deferral["test"]
    assert test["answered"] == round(test["coverage"] * test["rows"]) == test["rows"] - test["answered_by"]["person"]
    assert sum(test["answered_by"].values()) == test["rows"]
    assert sum(test["referred_true_labels"].values()) == test["answered_by"]["person"]
    assert [t["target"] for t in deferral["targets"]] == ["recall[high]", "precision[high]"]
    low, high = test["intervals"]["coverage"]["low"], test["intervals"]["coverage"]["high"]
    assert low <= test["coverage"] <= high
    assert set(test["label_set_coverage"]) >= {"low", "medium", "high"}
    assert deferral["latency"]["cascade"]["mean_ms"] > 0 and deferral["latency"]["student"]["mean_ms"] > 0
    assert deferral["sentence"].startswith("the model answers")
    report = (result.run_dir / "report" / "report.md").read_text()
    assert "## Defer when unsure" in report and deferral["sentence"] in report
    assert "When the model answers, and when it refers" in (result.run_dir / "report" / "MODEL_CARD.md").read_text()


def test_model_card_states_use_figures_and_limits(tiny_run) -> None:
    _, result = tiny_run
    card = (result.run_dir / "report" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: finance_risk student")
    assert "never decides an escalation" in card  # the pack's warning, first and in bold
    for heading in ("## Intended use", "## Data", "## Performance on the test split", "## Limits"):
        assert heading in card
    assert "95% interval" in card and "recall[high]" in card


def test_triage_card_warns_that_it_never_replaces_clinical_judgement() -> None:
    from toolkit.packs import load_pack

    assert "never replaces clinical judgement" in load_pack("medical_triage").config.model_card.warning
