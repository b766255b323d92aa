"""Untrusted files and real, messy data: one test per case. Each asserts a clear message naming the file, row or
key; exit code 2 and no traceback on the command line; that no code from a run folder ran; and that nothing the user
had was lost or overwritten.

The OpenAI teacher's network cases are in test_openai_safety.py, field ranges in test_field_ranges.py, and the
config-key / stage re-run table in test_stage_fingerprints.py.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as skops_io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.config import TeacherSpec
from toolkit.data.loading import read_table
from toolkit.data.splits import Split
from toolkit.data.validation import check_truncation, validate_frame
from toolkit.errors import ConfigError, UserInputError
from toolkit.manifest import Manifest
from toolkit.notebooks import REQUEST_FILE, resume
from toolkit.packs import REPO_ROOT, load_pack
from toolkit.pipeline import RunRequest, run
from toolkit.run_context import open_run
from toolkit.safe_io import RunLock, atomic_path
from toolkit.teachers.base import build_teacher
from toolkit.teachers.sklearn import load_pipeline
from toolkit.transformer_models import load_tokenizer

runner = CliRunner()
FINANCE = load_pack("finance_risk")
TRIAGE = load_pack("medical_triage")
FINANCE_EXAMPLE = REPO_ROOT / "data_templates" / "finance_risk" / "example_labeled.csv"
TRIAGE_EXAMPLE = REPO_ROOT / "data_templates" / "medical_triage" / "example_labeled.csv"


def cli(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def one_line(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


# ------------------------------------------------------------------------------------------ code in run folders


class Payload:
    """Unpickling this writes a marker file: what a crafted model.joblib would do with a real command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def evil_pack(folder: Path, marker: Path) -> Path:
    """A copy of the finance pack whose hook files write `marker` when imported."""
    pack = folder / "finance_risk"
    shutil.copytree(FINANCE.root, pack)
    for hook in ("synthetic.py", "rules.py", "metrics.py"):
        (pack / hook).write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('code ran')\n")
    return pack


def crafted_run(folder: Path, marker: Path, pack_dir: Path, domain: str = "finance_risk") -> Path:
    """A run folder someone else made: its manifest points at their pack, its teacher is a pickle."""
    run_dir = folder / "run"
    teacher = run_dir / "teachers" / "tfidf_lr"
    teacher.mkdir(parents=True)
    (teacher / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    (teacher / "fitted.json").write_text("{}")
    (teacher / "teacher.json").write_text(json.dumps({"data": "", "options": {}}))
    manifest = {"domain": domain, "pack_dir": str(pack_dir), "config": FINANCE.config.model_dump(mode="json")}
    manifest |= {"data": str(FINANCE_EXAMPLE), "seed": 0, "fast": True, "stages": {}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_opening_a_run_folder_never_imports_the_pack_its_manifest_names(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run_dir = crafted_run(tmp_path, marker, evil_pack(tmp_path / "theirs", marker))
    ctx = open_run(run_dir, log=lambda _: None)
    assert ctx.pack.root == FINANCE.root
    ctx.pack.hook("metrics")  # the installed pack's hook, not theirs
    assert not marker.exists()


def test_label_run_refuses_a_pickled_teacher_and_runs_none_of_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run_dir = crafted_run(tmp_path, marker, evil_pack(tmp_path / "theirs", marker))
    pool = tmp_path / "pool.csv"
    pd.read_csv(FINANCE_EXAMPLE).drop(columns=["risk"]).head(5).to_csv(pool, index=False)
    result = cli("label", "--run", run_dir, "--teacher", "tfidf_lr", "--input", pool, "--output", tmp_path / "o.pq")
    assert result.exit_code == 2
    assert "model.joblib: a pickle, which can run code when loaded; it is not loaded" in one_line(result)
    assert not marker.exists() and not (tmp_path / "o.pq").exists()


def test_a_model_file_holding_a_foreign_type_is_refused_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "teacher"
    folder.mkdir()
    skops_io.dump(Pipeline([("run", FunctionTransformer(os.system))]), folder / "model.skops")
    with pytest.raises(UserInputError, match=r"model.skops: holds types this toolkit never saves.*system"):
        load_pipeline(folder)


def test_a_saved_scikit_learn_teacher_round_trips_without_pickle(tmp_path: Path) -> None:
    teacher = build_teacher(TeacherSpec(name="tfidf", kind="sklearn"), ["a", "b"], seed=0, max_length=32)
    texts = ["wire to a new account", "salary payment", "wire overseas now", "grocery card payment"]
    teacher.fit(Split(texts, [1, 0, 1, 0]), Split(texts, [1, 0, 1, 0]), tmp_path)
    teacher.save(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["model.skops", "teacher.json"]
    restored = build_teacher(TeacherSpec(name="tfidf", kind="sklearn"), ["a", "b"], seed=0, max_length=32)
    restored.load(tmp_path / "saved")
    np.testing.assert_allclose(restored.predict_proba(texts), teacher.predict_proba(texts))


def test_a_run_whose_manifest_names_a_path_as_its_pack_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    theirs = evil_pack(tmp_path / "theirs", marker)
    run_dir = crafted_run(tmp_path, marker, theirs, domain=str(theirs))
    with pytest.raises(ConfigError, match="not a pack name"):
        open_run(run_dir, log=lambda _: None)
    assert open_run(run_dir, log=lambda _: None, pack=FINANCE.root).pack.root == FINANCE.root  # the user names it
    assert not marker.exists()


def test_notebook_resume_takes_no_pack_path_from_the_run_folder(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    theirs = evil_pack(tmp_path / "theirs", marker)
    (tmp_path / REQUEST_FILE).write_text(
        json.dumps({"domain": str(theirs), "data": None, "fast": True, "overrides": {}})
    )
    with pytest.raises(ConfigError, match="a path, not an installed pack's name"):
        resume(tmp_path)
    assert resume(tmp_path, pack="finance_risk").domain == "finance_risk"
    assert not marker.exists()


def test_built_in_packs_win_over_a_domains_folder_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "marker"
    evil_pack(tmp_path / "domains", marker)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="toolkit.packs"):
        pack = load_pack("finance_risk")
    assert pack.root == FINANCE.root
    assert f"also found (not used): {tmp_path / 'domains' / 'finance_risk'}" in caplog.text
    pack.hook("metrics")
    assert not marker.exists()


def test_a_hook_outside_its_pack_folder_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "outside.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef generate(): pass\n")
    pack = tmp_path / "packs" / "finance_risk"
    shutil.copytree(FINANCE.root, pack)
    text = (
        (pack / "pack.yaml")
        .read_text()
        .replace("synthetic: synthetic.py:generate", "synthetic: ../../outside.py:generate")
    )
    (pack / "pack.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"hooks.synthetic.*inside the pack folder"):
        load_pack(pack).hook("synthetic")
    assert not marker.exists()


# ------------------------------------------------------------------------------------ predict keeps the user's files


@pytest.fixture(scope="module")
def tfidf_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export whose one variant is a TF-IDF teacher: what `compress` ships when that baseline wins."""
    export = tmp_path_factory.mktemp("export") / "export"
    frame = pd.read_csv(FINANCE_EXAMPLE).head(300)
    labels = FINANCE.config.label_names
    teacher = build_teacher(TeacherSpec(name="tfidf_lr", kind="sklearn"), labels, seed=0, max_length=64)
    split = Split(frame["narrative"].tolist(), [labels.index(x) for x in frame["risk"]])
    teacher.fit(split, split, export)
    teacher.save(export / "tfidf_lr")
    shipped = {"teacher": {"name": "tfidf_lr", "kind": "sklearn"}, "fields": []}
    (export / "tfidf_lr" / "shipped_teacher.json").write_text(json.dumps(shipped))
    deploy = {"config": FINANCE.config.model_dump(mode="json"), "variant": "tfidf_lr"}
    deploy["policies"] = {"tfidf_lr": dict.fromkeys(labels, 1.0)}
    (export / "deploy.json").write_text(json.dumps(deploy))
    return export


def cases(folder: Path, rows: int = 6, name: str = "cases.csv") -> Path:
    path = folder / name
    pd.read_csv(FINANCE_EXAMPLE).head(rows).to_csv(path, index=False)  # predict ignores the label column
    return path


def test_predict_refuses_to_write_over_its_input(tfidf_export: Path, tmp_path: Path) -> None:
    source = cases(tmp_path)
    before = source.read_bytes()
    result = cli("predict", "--model", tfidf_export, "--input", source, "--output", source)
    assert result.exit_code == 2 and "is the input file" in one_line(result)
    assert source.read_bytes() == before
    forced = cli("predict", "--model", tfidf_export, "--input", source, "--output", source, "--force")
    assert forced.exit_code == 2 and source.read_bytes() == before  # --force never covers the input


def test_other_outputs_keep_existing_files_unless_forced(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("mine")
    result = cli("validate", cases(tmp_path, rows=60), "--domain", "finance_risk", "--report", report)
    assert result.exit_code == 2 and "report.json: exists and would be replaced" in one_line(result)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "labeled.csv").write_text("my labeled rows")
    result = cli("example-data", "--domain", "finance_risk", "--out", templates)
    assert result.exit_code == 2 and "labeled.csv: exists" in one_line(result)
    assert report.read_text() == "mine" and (templates / "labeled.csv").read_text() == "my labeled rows"


def test_predict_keeps_an_existing_output_unless_forced(tfidf_export: Path, tmp_path: Path) -> None:
    source, output = cases(tmp_path), tmp_path / "mine.csv"
    output.write_text("my own notes\n")
    result = cli("predict", "--model", tfidf_export, "--input", source, "--output", output)
    assert result.exit_code == 2 and "mine.csv: exists and would be replaced" in one_line(result)
    assert output.read_text() == "my own notes\n"
    assert cli("predict", "--model", tfidf_export, "--input", source, "--output", output, "--force").exit_code == 0
    assert len(pd.read_csv(output)) == 6


def test_predict_refuses_a_stale_progress_record_of_another_input(tfidf_export: Path, tmp_path: Path) -> None:
    first, output = cases(tmp_path, rows=6, name="first.csv"), tmp_path / "out.csv"
    assert cli("predict", "--model", tfidf_export, "--input", first, "--output", output).exit_code == 0
    kept = output.read_bytes()
    # an interrupted run of `first` left its record behind; now another file is given with the same output
    (tmp_path / "out.csv.progress").write_text(
        json.dumps({"rows": 6, "bytes": len(kept), "identity": {"input": "0123", "model": "tfidf_lr"}})
    )
    other = cases(tmp_path, rows=3, name="other.csv")
    result = cli("predict", "--model", tfidf_export, "--input", other, "--output", output)
    assert result.exit_code == 2 and "an interrupted prediction of another input or model" in one_line(result)
    assert output.read_bytes() == kept


# ----------------------------------------------------------------------------------- messy files, one reader


def cp1254_file(folder: Path) -> Path:
    path = folder / "turkish.csv"
    text = "case_id,narrative,amount,channel,account_age_days,country_risk,prior_alerts,customer_segment,risk\n"
    text += "C1,Müşteri İstanbul şubesinden havale yaptı,100,wire,10,low,0,retail,low\n"
    path.write_bytes(text.encode("cp1254"))
    return path


def excel_file(folder: Path) -> Path:
    path = folder / "workbook.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x14\x00\x06\x00" + b"\x00" * 200)  # how every .xlsx file starts
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (cp1254_file, "turkish.csv: not UTF-8 text (byte 102, line 2"),
        (excel_file, "workbook.csv: an Excel workbook, not a CSV file"),
    ],
)
def test_validate_and_predict_give_one_clear_error_for_an_unreadable_file(
    tfidf_export: Path, tmp_path: Path, make, message: str
) -> None:
    path = make(tmp_path)
    for args in (("validate", path, "--domain", "finance_risk"), ("predict", "--model", tfidf_export, "--input", path)):
        result = cli(*args)
        assert result.exit_code == 2 and message in one_line(result), one_line(result)
    assert not (tmp_path / f"{path.stem}.predictions.csv").exists()


def test_a_200_kb_field_is_one_rows_error_in_both_paths(tfidf_export: Path, tmp_path: Path) -> None:
    path = cases(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[2, "narrative"] = "word " * 40_000
    frame.to_csv(path, index=False)
    validated = cli("validate", path, "--domain", "finance_risk")
    assert validated.exit_code == 2 and "row 3, column 'narrative': text of 200,000 characters" in one_line(validated)
    predicted = cli("predict", "--model", tfidf_export, "--input", path)
    assert predicted.exit_code == 0 and "6 rows: 5 predicted" in one_line(predicted)
    output = pd.read_csv(tmp_path / "cases.predictions.csv")
    assert output.loc[2, "error"].startswith("row 3, column 'narrative': text of 200,000 characters")


def test_a_byte_order_mark_keeps_the_id_column(tfidf_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + cases(tmp_path).read_bytes())
    assert read_table(path).columns[0] == "case_id"
    assert cli("predict", "--model", tfidf_export, "--input", path).exit_code == 0
    ids = pd.read_csv(tmp_path / "bom.predictions.csv")["case_id"]
    assert ids.tolist() == pd.read_csv(FINANCE_EXAMPLE)["case_id"].head(6).tolist()


def test_duplicate_column_names_are_an_error_in_both_paths(tfidf_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    lines = cases(tmp_path).read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",narrative"] + [line + ",other text" for line in lines[1:]]) + "\n")
    for args in (("validate", path, "--domain", "finance_risk"), ("predict", "--model", tfidf_export, "--input", path)):
        result = cli(*args)
        assert result.exit_code == 2
        assert "twice.csv: duplicate column names: 'narrative' is columns 2, 10" in one_line(result)


def test_a_semicolon_separated_file_is_read_and_said_so(tfidf_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "european.csv"
    pd.read_csv(FINANCE_EXAMPLE).head(60).to_csv(path, index=False, sep=";")
    validated = cli("validate", path, "--domain", "finance_risk")
    assert "read as `;`-separated" in one_line(validated) and "error(s)" in one_line(validated)
    assert "missing column" not in one_line(validated)
    assert cli("predict", "--model", tfidf_export, "--input", path).exit_code == 0
    assert pd.read_csv(tmp_path / "european.predictions.csv")["error"].isna().all()


# ------------------------------------------------------------------------------- fields, truncation, splits


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("temperature_c", "inf", "'inf' is not a finite number"),
        ("temperature_c", "1e308", "outside the plausible range"),
        ("heart_rate", "99999", "heart_rate 99999 is outside the plausible range 20–300"),
        ("spo2", "-40", "outside the plausible range"),
    ],
)
def test_implausible_vitals_are_refused_with_their_row(tmp_path: Path, column: str, value: str, message: str) -> None:
    path = tmp_path / "vitals.csv"
    frame = pd.read_csv(TRIAGE_EXAMPLE, dtype=str).head(80)
    frame.loc[4, column] = value
    frame.to_csv(path, index=False)
    result = cli("validate", path, "--domain", "medical_triage")
    assert result.exit_code == 2 and f"row 5, column '{column}'" in one_line(result) and message in one_line(result)


def test_an_overflowed_amount_is_refused(tmp_path: Path) -> None:
    path = cases(tmp_path, rows=60)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[7, "amount"] = "1e308"
    frame.to_csv(path, index=False)
    result = cli("validate", path, "--domain", "finance_risk")
    assert result.exit_code == 2 and "row 8, column 'amount'" in one_line(result)
    assert "outside the plausible range" in one_line(result)


LONG_COMPLAINT = ("chest pain radiating to the left arm with sweating and nausea, worse on exertion; " * 8)[:607]


def triage_rows(complaint: str, config) -> pd.DataFrame:
    raw = pd.read_csv(TRIAGE_EXAMPLE, dtype=str).head(60)
    raw.loc[0, ["complaint", "heart_rate", "spo2", "systolic_bp"]] = [complaint, "128", "84", "82"]
    frame, report, _ = validate_frame(raw, config, "triage.csv")
    return frame, report


def test_long_complaints_keep_their_vitals_inside_the_model_input() -> None:
    config = TRIAGE.config
    frame, report = triage_rows(LONG_COMPLAINT, config)
    tokenizer = load_tokenizer(config.student.model)
    kept = tokenizer.decode(
        tokenizer(frame["input"][0], truncation=True, max_length=config.student.max_length)["input_ids"]
    )
    assert "hr 128" in kept and "spo2 84 %" in kept and "sbp 82" in kept
    check_truncation(frame, config, report, tokenizer)
    assert "only free text is lost, no field" in report.warnings[-1].message


def test_validate_names_the_fields_a_cut_would_lose() -> None:
    config = TRIAGE.config.model_copy(
        update={"render": TRIAGE.config.render.model_copy(update={"fields_first_above": 0})}
    )
    frame, report = triage_rows(LONG_COMPLAINT, config)
    check_truncation(frame, config, report, load_tokenizer(config.student.model))
    message = report.warnings[-1].message
    assert message.startswith("1 of 60 rows are longer than student.max_length (128 tokens)")
    assert all(f"{name} in 1 rows" in message for name in ("HR", "SpO2", "SBP")) and "(rows 1)" in message
    assert report.truncated["HR"] == 1 and report.truncated["rows"] == 1


def test_the_same_complaint_with_other_vitals_in_another_split_is_no_leak() -> None:
    config = TRIAGE.config.model_copy(update={"columns": TRIAGE.config.columns.model_copy(update={"split": "split"})})
    raw = pd.read_csv(TRIAGE_EXAMPLE, dtype=str).head(90)
    raw["split"] = ["train"] * 60 + ["validation"] * 15 + ["test"] * 15
    raw.loc[80, "complaint"] = raw.loc[3, "complaint"]  # same words, another patient: other vitals
    raw.loc[80, "heart_rate"] = str(int(raw.loc[3, "heart_rate"] or 80) + 20)
    frame, report, _ = validate_frame(raw, config, "mine.csv")
    assert not report.errors and len(frame) == 90
    assert "share their free text with a row of another split" in report.warnings[-1].message
    assert "rows 4 and 81" in report.warnings[-1].message


# --------------------------------------------------------------------------- run folders: locks, marks, writes


def test_a_second_run_into_a_locked_run_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunLock(out):
        result = cli("run", "--domain", "finance_risk", "--out", out, "--fast")
    assert result.exit_code == 2 and "in use by process" in one_line(result)
    assert not (out / "manifest.json").exists()


def test_an_interrupted_rerun_does_not_leave_a_done_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, lines = tmp_path / "run", []
    request = RunRequest(domain="finance_risk", data=FINANCE_EXAMPLE, out=out, fast=True)
    run(request, log=lines.append, until="data")
    changed = RunRequest(domain="finance_risk", data=FINANCE_EXAMPLE, out=out, fast=True, overrides={"split.seed": 5})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("toolkit.data.stage.split_frame", killed)
    with pytest.raises(KeyboardInterrupt):
        run(changed, log=lines.append, until="data")
    monkeypatch.undo()
    assert Manifest.open(out).data["stages"]["data"]["status"] == "running"
    lines.clear()
    run(request, log=lines.append, until="data")  # the first config again: its outputs were half replaced
    assert "[data] running" in lines


def test_an_atomic_write_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "probs.npz"
    np.savez(target, test=np.ones(3))
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        np.savez(temporary, test=np.zeros(3))
        raise RuntimeError("killed mid-write")
    np.testing.assert_array_equal(np.load(target)["test"], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["probs.npz"]
