"""Issue 8: LoRA merge, head pruning, INT8 / ONNX variants, the compress stage and `predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from typer.testing import CliRunner

from tests.conftest import make_bert, tiny_compress_overrides, tiny_overrides
from toolkit.cli import app
from toolkit.compress.heads import choose_heads, head_gates, head_importance, prune_heads
from toolkit.compress.quantize import (
    export_onnx,
    is_int8_linear,
    load_int8,
    quantize_int8,
    quantize_onnx_int8,
    save_int8,
)
from toolkit.compress.runtime import load_variant
from toolkit.compress.variants import COMPRESSION_VARIANTS, VariantJob, register_variant
from toolkit.decision.cascade import Cascade
from toolkit.distill.stage import save_student
from toolkit.errors import DataError
from toolkit.pipeline import RunRequest, compress_run, run
from toolkit.predict import Predictor, predict_file
from toolkit.transformer_models import load_classifier, load_tokenizer, predict_logits

TEXTS = [
    "wire of 9,800 to a new overseas account",
    "card payment at a grocery store",
    "three cash deposits just under the reporting limit on the same day from a new customer",
    "salary",
]
LABELS = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def wide_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with 4 heads per layer, so that pruning has heads to choose from."""
    return make_bert(tmp_path_factory.mktemp("bert4"), hidden=32, layers=2, heads=4)


def _logits(model: torch.nn.Module, folder: Path) -> np.ndarray:
    return predict_logits(model, load_tokenizer(str(folder)), TEXTS, max_length=32)


def test_merged_model_equals_the_adapter_model(wide_bert: Path) -> None:
    torch.manual_seed(0)
    base = load_classifier(str(wide_bert), LABELS)
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"], init_lora_weights=False)
    adapted = get_peft_model(base, config)  # random, non-zero adapters: merging must carry them into the weights
    before = _logits(adapted, wide_bert)
    merged = adapted.merge_and_unload()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    np.testing.assert_allclose(_logits(merged, wide_bert), before, atol=1e-5)


def test_a_full_fine_tune_saved_over_a_lora_run_leaves_no_stale_adapter(wide_bert: Path, tmp_path: Path) -> None:
    """Re-running distill with `student.lora: null` in a LoRA run's folder: compress must find the new model."""
    torch.manual_seed(0)
    tokenizer, folder = load_tokenizer(str(wide_bert)), tmp_path / "student"
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"], init_lora_weights=False)
    save_student(folder, get_peft_model(load_classifier(str(wide_bert), LABELS), config), tokenizer, ["coarse"])
    assert (folder / "adapter" / "adapter_config.json").is_file()
    full = load_classifier(str(wide_bert), LABELS)
    save_student(folder, full, tokenizer, ["coarse"])
    assert not (folder / "adapter").exists()
    np.testing.assert_allclose(
        _logits(load_classifier(str(folder / "merged"), LABELS), wide_bert), _logits(full, wide_bert), atol=1e-6
    )


def test_pruning_removes_the_requested_heads_and_matches_the_gated_model(wide_bert: Path, tmp_path: Path) -> None:
    model = load_classifier(str(wide_bert), LABELS)
    gates = [torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 1.0, 1.0])]
    with head_gates(model, gates):
        gated = _logits(model, wide_bert)
    prune_heads(model, {0: [1, 3], 1: [0]})
    attention = [layer.attention for layer in model.bert.encoder.layer]
    assert [a.self.query.out_features for a in attention] == [2 * 8, 3 * 8]
    assert [a.output.dense.in_features for a in attention] == [16, 24]
    np.testing.assert_allclose(_logits(model, wide_bert), gated, atol=1e-5)
    model.save_pretrained(tmp_path)  # reloads through the ordinary entry point, shape rebuilt from the config
    load_tokenizer(str(wide_bert)).save_pretrained(tmp_path)
    reloaded = load_classifier(str(tmp_path), LABELS)
    assert reloaded.config.pruned_attention_heads == {"0": [1, 3], "1": [0]}
    np.testing.assert_allclose(_logits(reloaded, tmp_path), gated, atol=1e-5)


def test_head_importance_is_normalised_per_layer_and_choice_respects_budget_and_tolerance(wide_bert: Path) -> None:
    model = load_classifier(str(wide_bert), LABELS)
    importance = head_importance(model, load_tokenizer(str(wide_bert)), TEXTS * 4, [0, 1, 2, 0] * 4, 32, 8)
    assert [len(layer) for layer in importance] == [4, 4]
    assert all(abs(np.linalg.norm(layer) - 1) < 1e-5 for layer in importance)
    assert all(p.requires_grad for p in model.parameters())  # restored after the gate-only pass

    calls = iter([0.80, 0.80, 0.795, 0.70])  # baseline, then one value per try
    choice = choose_heads(model, importance, lambda: next(calls), budget=0.5, step=0.125, tolerance=0.01)
    assert choice.removed == 2 and choice.baseline == 0.80 and choice.value == 0.795
    assert [h["kept"] for h in choice.history] == [True, True, True, False]
    ranked = sorted((v, layer, h) for layer, values in enumerate(importance) for h, v in enumerate(values))
    assert sorted((layer, h) for _, layer, h in ranked[:2]) == sorted(
        (layer, h) for layer, heads in choice.heads.items() for h in heads
    )

    always_fine = choose_heads(model, importance, lambda: 0.8, budget=0.99, step=0.125, tolerance=0.0)
    assert all(len(heads) <= 3 for heads in always_fine.heads.values())  # every layer keeps a head


def test_onnx_export_matches_pytorch_and_int8_variants_stay_close(wide_bert: Path, tmp_path: Path) -> None:
    model = load_classifier(str(wide_bert), LABELS)
    prune_heads(model, {1: [2]})
    tokenizer = load_tokenizer(str(wide_bert))
    reference = _logits(model, wide_bert)
    export_onnx(model, tokenizer, tmp_path / "onnx")
    onnx = load_variant(tmp_path / "onnx", LABELS, max_length=32).logits(TEXTS)
    np.testing.assert_allclose(onnx, reference, atol=1e-4)
    quantize_onnx_int8(tmp_path / "onnx", tmp_path / "onnx_int8")
    int8 = load_variant(tmp_path / "onnx_int8", LABELS, max_length=32).logits(TEXTS)
    assert int8.shape == reference.shape and np.abs(int8 - reference).max() < 0.1

    save_int8(quantize_int8(model), tokenizer, tmp_path / "torch_int8")
    restored = load_int8(tmp_path / "torch_int8")
    assert is_int8_linear(restored.bert.encoder.layer[0].attention.self.query)
    assert restored.bert.encoder.layer[1].attention.self.query.out_features == 3 * 8
    assert np.abs(_logits(restored, wide_bert) - reference).max() < 0.1


# ------------------------------------------------------------------------------------------- the stage


@pytest.fixture(scope="module")
def compressed_run(tmp_path_factory: pytest.TempPathFactory, wide_bert: Path, finance_sample: Path):
    out = tmp_path_factory.mktemp("compress") / "finance"
    overrides = {**tiny_overrides(wide_bert), **tiny_compress_overrides()}
    return run(RunRequest(domain="finance_risk", data=finance_sample, out=out, overrides=overrides), log=lambda _: None)


def test_compress_stage_builds_measures_and_chooses(compressed_run) -> None:
    export = compressed_run.run_dir / "export"
    metrics = json.loads((export / "metrics.json").read_text())
    names = ["student_fp32", "pruned_fp32", "torch_int8", "onnx_fp32", "onnx_int8", "onnx_int4"]
    assert list(metrics["models"]) == names
    for name in names:
        entry = metrics["models"][name]
        assert entry["size_bytes"] > 0 and entry["latency"]["p50_ms"] > 0 and entry["latency"]["throughput_per_s"] > 0
        assert set(entry["test"]["per_class"]) == set(LABELS) and "policy" in entry
    models = metrics["models"]
    assert models["student_fp32"]["built"]["max_abs_logit_difference"] < 1e-4  # merge_and_unload changes nothing
    assert models["onnx_fp32"]["built"]["max_abs_logit_difference_vs_pytorch"] < 1e-4
    assert models["onnx_int8"]["size_bytes"] < models["onnx_fp32"]["size_bytes"]
    assert metrics["teacher_ensemble"]["latency"]["p50_ms"] > 0
    assert metrics["chosen"] in names
    # the student of the run: the merged variant gives the probabilities the evaluate stage reported
    student = np.load(compressed_run.run_dir / "student" / "probs.npz")["test"]
    merged = np.load(export / "evaluation" / "student_fp32.npz")["test"]
    np.testing.assert_allclose(merged, student, atol=1e-4)
    table = (export / "compression.md").read_text()
    assert "| teacher ensemble |" in table and f"**Deployed: `{metrics['chosen']}`**" in table
    assert (export / "compression.png").stat().st_size > 5000
    deploy = json.loads((export / "deploy.json").read_text())
    assert deploy["variant"] == metrics["chosen"] and set(deploy["policies"]) == set(names)
    assert set(deploy["cascades"]) == set(names) and (export / "scope.json").is_file()
    for name in names:  # each variant's own cascade, tuned on validation, and what it keeps on test
        kept = models[name]["deferral"]["test"]
        assert kept["answered"] == round(kept["coverage"] * models[name]["test"]["n"])
    assert models[metrics["chosen"]]["deferral"]["latency"]["cascade"]["mean_ms"] > 0
    assert "Defer when unsure, each variant" in table


def test_cascade_thresholds_survive_export_and_reload(compressed_run) -> None:
    export = compressed_run.run_dir / "export"
    deploy = json.loads((export / "deploy.json").read_text())
    predictor = Predictor.load(export)
    assert predictor.cascade.to_dict() == Cascade.from_dict(deploy["cascades"][deploy["variant"]]).to_dict()
    assert predictor.cascade.student_threshold == (
        deploy["cascades"][deploy["variant"]]["student"]["threshold"] or np.inf
    )
    # the reloaded cascade decides the test rows as the compress stage measured them
    probs = np.load(export / "evaluation" / f"{deploy['variant']}.npz")
    ensemble = np.load(compressed_run.run_dir / "teachers" / "ensemble" / "probs.npz")["test"]
    teachers = [
        np.load(compressed_run.run_dir / "teachers" / t / "probs.npz")["test"] for t in ("tfidf_lr", "tiny_bert")
    ]
    decisions = predictor.cascade.decide(probs["test"], ensemble, teachers)
    measured = json.loads((export / "metrics.json").read_text())["models"][deploy["variant"]]["deferral"]["test"]
    assert decisions.answered.sum() == measured["answered"]


def test_predict_refers_input_unlike_the_training_data_with_the_reason(compressed_run) -> None:
    predictor = Predictor.load(compressed_run.run_dir / "export")
    turkish = predictor.predict("Müşteri yeni hesabından yurt dışına büyük bir havale yaptı")
    chinese = predictor.predict("客户向海外新账户电汇大额资金")
    gibberish = predictor.predict("qwxz plorb vintak zzumf grelt")
    for prediction in (turkish, chinese, gibberish):
        assert prediction.decision == "refer" and prediction.reason == "out_of_scope"
        assert prediction.answered_by == "person"
    assert turkish.detail.startswith("unknown_words") and gibberish.detail.startswith("unknown_words")
    assert chinese.detail.startswith("unseen_script") and "CJK" in chinese.detail


def test_compress_command_skips_when_unchanged_and_reruns_on_a_new_setting(compressed_run) -> None:
    lines: list[str] = []
    compress_run(compressed_run.run_dir, log=lines.append)
    assert lines == ["[compress] unchanged since the last run, skipped"]
    result = CliRunner().invoke(
        app, ["compress", "--run", str(compressed_run.run_dir), "--set", "compress.onnx_int4=false"]
    )
    assert result.exit_code == 0, result.output
    assert "onnx_int4" not in json.loads((compressed_run.run_dir / "export" / "metrics.json").read_text())["models"]
    compress_run(compressed_run.run_dir, log=lambda _: None)  # back to the run's own settings for the next tests


def _exporter_that_breaks(job: VariantJob) -> dict:
    raise RuntimeError("[ShapeInferenceError] Inferred shape and existing shape differ in rank\n(more detail)")


def test_a_variant_that_fails_to_build_costs_only_itself_and_what_is_made_from_it(compressed_run) -> None:
    with COMPRESSION_VARIANTS.scope():
        register_variant("broken", "an exporter that fails here", source="pruned_fp32")(_exporter_that_breaks)
        register_variant("from_broken", "made from the broken one", source="broken")(_exporter_that_breaks)
        lines: list[str] = []
        compress_run(compressed_run.run_dir, overrides={"compress.onnx_int4": False}, log=lines.append)
    export = compressed_run.run_dir / "export"
    metrics = json.loads((export / "metrics.json").read_text())
    assert metrics["failed"] == {
        "broken": "RuntimeError: [ShapeInferenceError] Inferred shape and existing shape differ in rank",
        "from_broken": "not built: broken, which it is made from, failed",
    }
    assert "broken" not in metrics["models"] and "torch_int8" in metrics["models"] and metrics["chosen"]
    assert not (export / "broken").exists()
    assert "`broken`: **failed**" in (export / "compression.md").read_text()
    assert any("broken failed" in line for line in lines)
    compress_run(compressed_run.run_dir, log=lambda _: None)  # back to the run's own settings for the next tests


def test_predict_one_row_and_one_text(compressed_run) -> None:
    predictor = Predictor.load(compressed_run.run_dir)  # the run folder leads to its export
    row = predictor.predict({"narrative": TEXTS[0], "amount": "9800", "channel": "wire"})
    assert row.decision in [*LABELS, "refer"] and row.policy_label in LABELS and row.argmax_label in LABELS
    assert row.answered_by in ("student", "ensemble", "person") and set(row.label_set) <= set(LABELS)
    assert abs(sum(row.probabilities.values()) - 1) < 1e-4
    assert predictor.predict(TEXTS[1]).decision in [*LABELS, "refer"]
    with pytest.raises(DataError, match=r"row 1, column 'amount': 'lots' is not a number"):
        predictor.predict({"narrative": TEXTS[0], "amount": "lots"})


def _input_file(folder: Path) -> Path:
    lines = [
        "case_id,narrative,amount,channel",
        "c1,wire to a new overseas account,9800,wire",
        "c2,card payment at a grocery store,12.5,card_present",
        "c3,too,many,fields,here",
        "c4,,40,card_present",
        "c5,refund of a duplicate charge,abc,card_present",
        "c6,wire to a new beneficiary,50000,teleport",
        "c7,salary,2500,ach",
    ]
    path = folder / "cases.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_predict_file_reports_malformed_rows_and_goes_on(compressed_run, tmp_path: Path) -> None:
    source = _input_file(tmp_path)
    summary = predict_file(Predictor.load(compressed_run.run_dir / "export"), source, show_progress=False)
    assert summary.rows == 7 and summary.predicted == 3 and summary.malformed == 4
    output = pd.read_csv(summary.output)
    assert output["row"].tolist() == [1, 2, 3, 4, 5, 6, 7] and output["case_id"].tolist()[:2] == ["c1", "c2"]
    errors = dict(zip(output["row"], output["error"], strict=True))
    assert "5 fields, the header has 4" in errors[3]
    assert errors[4].startswith("row 4, column 'narrative': empty text")
    assert "row 5, column 'amount': 'abc' is not a number" in errors[5]
    assert "row 6, column 'channel': value 'teleport' not allowed" in errors[6]
    answered = output.loc[output["error"].isna()]
    assert answered["decision"].isin([*LABELS, "refer"]).all() and answered["policy_label"].isin(LABELS).all()
    assert answered["reason"].isin(["confident", "low_confidence", "label_set", "out_of_scope"]).all()
    assert answered["answered_by"].isin(["student", "ensemble", "person"]).all()
    assert answered["label_set"].map(lambda s: set(str(s).split("|")) <= set(LABELS)).all()
    assert ((answered["decision"] == "refer") == (answered["answered_by"] == "person")).all()
    probabilities = output.loc[output["error"].isna(), ["p_low", "p_medium", "p_high"]].sum(axis=1)
    assert np.allclose(probabilities, 1, atol=1e-4)


def test_predict_jsonl_streams_in_chunks_and_resumes_after_a_crash(compressed_run, tmp_path: Path) -> None:
    source = tmp_path / "cases.jsonl"
    rows = [json.dumps({"case_id": f"c{i}", "narrative": f"{TEXTS[i % 4]} {i}", "amount": i * 100}) for i in range(9)]
    rows.insert(4, "{not json")
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    predictor = Predictor.load(compressed_run.run_dir / "export")
    complete = predict_file(predictor, source, tmp_path / "all.jsonl", chunk_rows=3, show_progress=False)
    assert complete.rows == 10 and complete.malformed == 1
    assert complete.first_errors[0].startswith("row 5 (line 5): not a JSON object")

    class Crashing(Predictor):
        calls = 0

        def probabilities(self, inputs, fields=None):
            Crashing.calls += 1
            if Crashing.calls == 2:
                raise RuntimeError("killed")
            return super().probabilities(inputs, fields)

    served = (predictor.models.teachers, predictor.models.combine) if predictor.models.teachers else None
    crashing = Crashing(
        predictor.classifier,
        predictor.config,
        predictor.weights,
        predictor.variant,
        predictor.cascade,
        predictor.scope,
        served,
        identity=predictor.identity,  # the same model: its interrupted output may be resumed
    )
    with pytest.raises(RuntimeError, match="killed"):
        predict_file(crashing, source, tmp_path / "resumed.jsonl", chunk_rows=3, show_progress=False)
    resumed = predict_file(predictor, source, tmp_path / "resumed.jsonl", chunk_rows=3, show_progress=False)
    assert resumed.resumed_after == 3
    assert (tmp_path / "resumed.jsonl").read_text() == (tmp_path / "all.jsonl").read_text()
    assert not (tmp_path / "resumed.jsonl.progress").exists()


def test_predict_command_prints_a_summary_and_names_bad_input(compressed_run, tmp_path: Path) -> None:
    source = _input_file(tmp_path)
    result = CliRunner().invoke(
        app, ["predict", "--model", str(compressed_run.run_dir / "export"), "--input", str(source)]
    )
    assert result.exit_code == 0, result.output
    assert "7 rows: 3 predicted" in result.output and "4 malformed row(s) skipped" in result.output
    missing = CliRunner().invoke(app, ["predict", "--model", str(tmp_path), "--input", str(source)])
    assert missing.exit_code == 2 and "no deploy.json" in missing.output
    (tmp_path / "wrong.csv").write_text("note,amount\nhello,3\n", encoding="utf-8")
    export = str(compressed_run.run_dir / "export")
    wrong = CliRunner().invoke(app, ["predict", "--model", export, "--input", str(tmp_path / "wrong.csv")])
    assert wrong.exit_code == 2 and "no column 'narrative' for the text" in wrong.output


def test_pruned_export_records_its_heads_and_reloads(compressed_run) -> None:
    folder = compressed_run.run_dir / "export" / "pruned_fp32"
    recorded = json.loads((folder / "config.json").read_text()).get("pruned_attention_heads") or {}
    built = json.loads((compressed_run.run_dir / "export" / "metrics.json").read_text())["models"]["pruned_fp32"]
    assert sum(len(heads) for heads in recorded.values()) == built["built"]["removed"]
    assert built["built"]["removed"] > 0 and built["built"]["recovered"] is not None  # the fixture turns recovery on
    assert list(built["built"]["seconds"]) == ["importance", "search", "recovery"]  # the steps, for --profile
    logits = load_variant(folder, LABELS, max_length=64).logits(TEXTS)
    assert logits.shape == (len(TEXTS), len(LABELS)) and np.isfinite(logits).all()


def test_predict_with_a_column_map_takes_the_users_or_the_packs_column_names(compressed_run, tmp_path: Path) -> None:
    predictor = Predictor.load(compressed_run.run_dir / "export")
    mapped = predictor.config.model_copy(
        update={"input_map": predictor.config.input_map.model_copy(update={"columns": {"note": "text", "ref": "id"}})}
    )
    mapped_predictor = Predictor(predictor.classifier, mapped, predictor.weights, predictor.variant)
    source = tmp_path / "mine.csv"
    source.write_text("ref,note,amount\nA-1,wire to a new overseas account,9800\nA-2,,12\n", encoding="utf-8")
    summary = predict_file(mapped_predictor, source, show_progress=False)
    output = pd.read_csv(summary.output)
    assert output["case_id"].tolist() == ["A-1", "A-2"] and summary.malformed == 1
    assert "row 2, column 'narrative': empty text" in output.loc[1, "error"]
    assert mapped_predictor.predict({"narrative": TEXTS[0]}).decision in [
        *LABELS,
        "refer",
    ]  # the pack's own names also work
