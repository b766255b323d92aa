"""Real public data sets go through the same door as the user's data: only a column / label map.

They live outside the repository in ../shared/datasets (see each folder's PROVENANCE.md); every test here
skips with a reason when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.pipeline import RunRequest, run

from .conftest import tiny_overrides

pytestmark = pytest.mark.shared_data
runner = CliRunner()

MIMIC_MAP = (
    "chiefcomplaint=text,acuity=label,subject_id=group,stay_id=id,heartrate=heart_rate,"
    "resprate=resp_rate,o2sat=spo2,sbp=systolic_bp"
)
# ESI 1-2 emergent, 3 urgent, 4-5 non-urgent; the demo holds only two ESI-4 stays (and no ESI 5).
MIMIC_LABELS = "1=emergent,2=emergent,3=urgent,4=non_urgent,5=non_urgent"


def validate(path: Path, domain: str, *options: str):
    """`domain-distill validate --domain DOMAIN PATH OPTIONS...` through the CLI."""
    return runner.invoke(app, ["validate", "--domain", domain, str(path), *options])


def test_mimic_triage_validates_with_a_map_and_names_its_too_small_class(shared_datasets: Path) -> None:
    path = shared_datasets / "triage_mimic_iv_ed_demo" / "triage.csv"
    result = validate(path, "medical_triage", "--map", MIMIC_MAP, "--labels", MIMIC_LABELS, "--drop-unlabeled")
    assert result.exit_code == 2
    out = result.stdout.replace("\n", " ")
    assert "222 rows read, 207 kept, 15 dropped" in out  # the 15 stays without acuity are listed, never imputed
    assert "class 'non_urgent' has 2 row(s)" in out


def test_mimic_triage_runs_through_the_triage_pack_split_by_patient(
    shared_datasets: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from toolkit.data.column_map import parse_pairs

    overrides = tiny_overrides(tiny_model_dir) | {
        "input_map.columns": parse_pairs(MIMIC_MAP, "--map"),
        # with two ESI-4 stays, non-urgent cannot be split: here ESI 4 joins urgent, stated, not hidden
        "input_map.labels": parse_pairs("1=emergent,2=emergent,3=urgent,4=urgent", "--labels"),
        "input_map.drop_unlabeled": True,
    }
    result = run(
        RunRequest(
            domain="medical_triage",
            data=shared_datasets / "triage_mimic_iv_ed_demo" / "triage.csv",
            out=tmp_path / "mimic",
            overrides=overrides,
        ),
        log=lambda _: None,
    )
    import pandas as pd

    splits = {name: pd.read_parquet(tmp_path / "mimic" / "data" / f"{name}.parquet") for name in ("train", "test")}
    assert set(splits["train"]["group"]).isdisjoint(set(splits["test"]["group"]))
    assert sum(result.metrics["split_sizes"].values()) == 207
    assert "under_triage_rate" in result.metrics["models"]["student"]["test"]


def test_sms_smishing_runs_through_the_finance_pack(
    shared_datasets: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = shared_datasets / "sms_phishing_mendeley" / "Dataset_5971.csv"
    options = ["--map", "TEXT=text,LABEL=label", "--labels", "ham=low,spam=medium,smishing=high", "--drop-conflicts"]
    checked = validate(path, "finance_risk", *options)
    assert checked.exit_code == 0, checked.stdout[-2000:]
    assert "both dropped (input_map.drop_conflicting is on)" in checked.stdout.replace("\n", " ")
    from toolkit.data.column_map import parse_pairs

    overrides = tiny_overrides(tiny_model_dir) | {
        "input_map.columns": parse_pairs("TEXT=text,LABEL=label", "m"),
        "input_map.labels": parse_pairs(options[3], "l"),
        "input_map.drop_conflicting": True,
    }
    result = run(
        RunRequest(domain="finance_risk", data=path, out=tmp_path / "sms", fast=True, overrides=overrides),
        log=lambda _: None,
    )
    tfidf = result.metrics["models"]["tfidf_lr"]["test"]
    assert tfidf["macro_f1"] > 0.7  # real signal, learned through the finance pack unchanged


def test_german_credit_rows_render_to_text_through_the_finance_pack(shared_datasets: Path) -> None:
    path = shared_datasets / "statlog_german_credit" / "german_credit.csv"
    result = validate(path, "finance_risk", "--map", "*=text,risk=label,class=id", "--labels", "good=low,bad=high")
    assert result.exit_code == 0, result.stdout
    out = result.stdout.replace("\n", " ")
    assert "1000 rows read, 1000 kept" in out
    assert "class 'medium' has no rows" in out  # said plainly, not silently accepted


def test_a_many_class_text_set_runs_on_its_fixed_split_through_a_built_pack(
    shared_datasets: Path, tmp_path: Path
) -> None:
    """bench/quality.py's text pack on the speech set's fixed split: 25 labels, each row in the split its file names."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import quality
    from common import SPLITS

    if not (SPLITS / "medical_speech_intent").is_dir():
        pytest.skip(f"fixed splits not found at {SPLITS}")
    data = next(d for d in quality.DATASETS if d.name == "speech_intent")
    request = quality.request_for(data, tmp_path, fast=False, threads=1, extra={})
    run(request, log=lambda _: None, until="data")
    splits = quality.load_splits(request.out)
    assert len(splits.config.label_names) == 25 and splits.config.critical_label == "Heart hurts"
    for name in ("train", "validation", "test"):
        fixed = set(pd.read_csv(SPLITS / "medical_speech_intent" / f"{name}.csv", dtype=str)["text"].str.strip())
        ours = set(splits.texts[name])
        assert ours <= fixed and len(ours) >= len(fixed) - 10  # a phrase with two prompts is dropped, and listed
