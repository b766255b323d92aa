"""The run from Python: `from toolkit import ...`, a pandas DataFrame instead of a file, a PackConfig instead of a
pack name. The data stage is where either differs from the CLI's run, so these runs stop after it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import toolkit
from toolkit.errors import ConfigError, DataError
from toolkit.manifest import Manifest
from toolkit.packs import load_pack

from .conftest import tiny_overrides

PUBLIC = ["run", "RunRequest", "Predictor", "load_pack", "PackConfig", "DistillationTrainer", "distillation_loss"]


def _run_data(tmp_path: Path, tiny_model_dir: Path, domain, data, name: str = "run") -> tuple[Path, list[str]]:
    lines: list[str] = []
    out = tmp_path / name
    request = toolkit.RunRequest(domain=domain, data=data, out=out, overrides=tiny_overrides(tiny_model_dir))
    toolkit.run(request, log=lines.append, until="data")
    return out, lines


def test_the_public_names_come_from_toolkit_with_a_call_in_their_docstring() -> None:
    from toolkit.config import PackConfig
    from toolkit.distill.losses import distillation_loss
    from toolkit.distill.trainer import DistillationTrainer
    from toolkit.packs import load_pack as packs_load_pack
    from toolkit.pipeline import run
    from toolkit.predict import Predictor
    from toolkit.run_request import RunRequest

    exported = {name: getattr(toolkit, name) for name in PUBLIC}
    assert exported == {
        "run": run,
        "RunRequest": RunRequest,
        "Predictor": Predictor,
        "load_pack": packs_load_pack,
        "PackConfig": PackConfig,
        "DistillationTrainer": DistillationTrainer,
        "distillation_loss": distillation_loss,
    }
    assert [name for name, value in exported.items() if ">>> " not in (value.__doc__ or "")] == []
    assert set(PUBLIC) <= set(toolkit.__all__) and set(PUBLIC) <= set(dir(toolkit))
    with pytest.raises(AttributeError, match="no attribute 'stage_data'"):
        toolkit.stage_data  # noqa: B018


def test_a_dataframe_gives_the_splits_its_file_gives(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    frame = pd.read_csv(finance_sample, dtype=str)
    from_frame, _ = _run_data(tmp_path, tiny_model_dir, "finance_risk", frame, "frame")
    from_file, _ = _run_data(tmp_path, tiny_model_dir, "finance_risk", finance_sample, "file")
    for split in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(from_frame / "data" / f"{split}.parquet"),
            pd.read_parquet(from_file / "data" / f"{split}.parquet"),
        )
    stored = from_frame / "input.parquet"
    assert Manifest.open(from_frame).data["data"] == str(stored)
    pd.testing.assert_frame_equal(pd.read_parquet(stored), frame)


def test_the_same_dataframe_again_reuses_the_data_stage(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    frame = pd.read_csv(finance_sample, dtype=str)
    _run_data(tmp_path, tiny_model_dir, "finance_risk", frame)
    _, again = _run_data(tmp_path, tiny_model_dir, "finance_risk", frame.copy())
    assert "[data] unchanged since the last run, skipped" in again
    changed = frame.assign(narrative=frame["narrative"].where(frame.index != 0, "A different first narrative."))
    _, after_change = _run_data(tmp_path, tiny_model_dir, "finance_risk", changed)
    assert "[data] running" in after_change


def test_a_bad_dataframe_row_is_named_by_row_and_column(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    frame = pd.read_csv(finance_sample, dtype=str)
    frame.loc[2, "risk"] = "catastrophic"  # the third row
    with pytest.raises(DataError) as raised:
        _run_data(tmp_path, tiny_model_dir, "finance_risk", frame)
    assert "row 3, column 'risk'" in raised.value.message and "catastrophic" in raised.value.message
    report = json.loads((tmp_path / "run" / "data" / "validation_report.json").read_text())
    assert [(i["row"], i["column"]) for i in report["issues"] if i["severity"] == "error"] == [(3, "risk")]


def test_a_column_of_mixed_types_is_refused_by_name(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    frame = pd.read_csv(finance_sample, dtype=str)
    frame["amount"] = [1.5, *frame["amount"].iloc[1:]]  # a number among texts: Parquet holds one type a column
    with pytest.raises(DataError, match="column 'amount' of the DataFrame"):
        _run_data(tmp_path, tiny_model_dir, "finance_risk", frame)
    assert not (tmp_path / "run" / "input.parquet").exists()


def test_a_pack_config_runs_with_its_changes(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    config = load_pack("finance_risk").config.model_copy(update={"description": "loans to small firms"})
    out, _ = _run_data(tmp_path, tiny_model_dir, config, finance_sample)
    manifest = Manifest.open(out).data
    assert manifest["domain"] == "finance_risk" and manifest["config"]["description"] == "loans to small firms"
    assert manifest["pack_dir"] == str(load_pack("finance_risk").root)  # its hooks are the installed pack's


def test_a_pack_config_is_validated_like_pack_yaml(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    config = load_pack("finance_risk").config
    one_label = config.model_copy(update={"labels": config.labels[:1]})  # model_copy skips pydantic's checks
    with pytest.raises(ConfigError, match="labels"):
        _run_data(tmp_path, tiny_model_dir, one_label, finance_sample)


def test_a_pack_config_with_hooks_needs_its_pack(tmp_path: Path, tiny_model_dir: Path, finance_sample) -> None:
    renamed = load_pack("finance_risk").config.model_copy(update={"name": "not_installed"})
    with pytest.raises(ConfigError, match="no installed pack 'not_installed' holds their files"):
        _run_data(tmp_path, tiny_model_dir, renamed, finance_sample)
