"""`domain-distill run` under `accelerate launch` with 2 processes (CPU, gloo): DDP training, shared labeling,
one writer. (A 2-GPU machine was not available here; the same command runs there with NCCL.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from toolkit.distributed import launch_command
from toolkit.pipeline import RunRequest, run

from .conftest import failure_summary, tiny_overrides

pytestmark = pytest.mark.slow


def test_two_process_run_matches_one_process(tmp_path: Path, tiny_model_dir: Path, finance_sample: Path) -> None:
    overrides = tiny_overrides(tiny_model_dir) | {"distill.epochs": 2}
    single = run(
        RunRequest(domain="finance_risk", data=finance_sample, out=tmp_path / "one", overrides=overrides),
        log=lambda _: None,
    )
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    command = [
        *launch_command(2, "toolkit.cli"),
        "run",
        "--domain",
        "finance_risk",
        "--data",
        str(finance_sample),
        "--out",
        str(tmp_path / "two"),
        *sets,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, failure_summary(done.stderr)
    double = json.loads((tmp_path / "two" / "report" / "metrics.json").read_text())
    assert double["split_sizes"] == single.metrics["split_sizes"]
    # deterministic teachers agree exactly; the DDP-trained student agrees within noise
    assert double["models"]["tfidf_lr"] == single.metrics["models"]["tfidf_lr"]
    student_one = single.metrics["models"]["student"]["validation"]["macro_f1"]
    student_two = double["models"]["student"]["validation"]["macro_f1"]
    assert abs(student_one - student_two) < 0.2
    # each optimisation step saw two processes' batches: half the steps for the same epochs
    steps = {
        name: max(e.get("step", 0) for e in json.loads((tmp_path / name / "student" / "history.json").read_text()))
        for name in ("one", "two")
    }
    assert steps["two"] == pytest.approx(steps["one"] / 2, abs=2)
    assert done.stdout.count("[distill] running") == 1  # one process logs
