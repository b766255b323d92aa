"""Teacher outputs are cached by fingerprint + text: a killed labeling run resumes and repays nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.config import TeacherSpec
from toolkit.distributed import launch_command
from toolkit.pipeline import RunRequest, run
from toolkit.teachers.base import build_teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.labeling import label_texts

from .conftest import REPO_ROOT, failure_summary, tiny_overrides
from .openai_server import FakeOpenAI

LABELS = ["low", "medium", "high"]
TEXTS = [
    f"case {i}: " + ("wire abroad" if i % 3 == 0 else "refund asked" if i % 3 == 1 else "salary") for i in range(40)
]


def api_teacher(base_url: str):
    spec = TeacherSpec(name="api", kind="openai", options={"base_url": base_url, "requests_per_second": 0})
    return build_teacher(spec, LABELS, 0, 128)


def test_cache_round_trip_and_keying(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path / "c.sqlite")
    cache.put("teacher-a", ["x", "y"], np.array([[0.1, 0.9], [0.6, 0.4]]))
    assert set(cache.get("teacher-a", ["x", "y", "z"])) == set(cache.get("teacher-a", ["y", "x"]))
    assert cache.get("teacher-b", ["x"]) == {}  # another fingerprint never sees these outputs
    np.testing.assert_allclose(list(cache.get("teacher-a", ["x"]).values())[0], [0.1, 0.9], rtol=1e-6)


def _open_cache_when_released(path: str, start, results) -> None:
    start.wait()
    try:
        TeacherCache(Path(path)).put("t", [path], np.array([[0.5, 0.5]]))
        results.put("ok")
    except Exception as error:  # reported to the parent, which names it
        results.put(repr(error))


def test_processes_opening_a_new_cache_file_at_once_all_succeed(tmp_path: Path) -> None:
    # several ranks of `accelerate launch` open the run's new cache file at the same moment
    import multiprocessing

    context = multiprocessing.get_context("fork")
    outcomes = []
    for attempt in range(40):
        start, results = context.Barrier(3), context.Queue()
        path = str(tmp_path / f"cache{attempt}.sqlite")
        workers = [context.Process(target=_open_cache_when_released, args=(path, start, results)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        outcomes += [results.get(timeout=5) for _ in workers]
    assert outcomes == ["ok"] * 120, [o for o in outcomes if o != "ok"][:3]


def test_second_labeling_is_served_from_the_cache(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        cache = TeacherCache(tmp_path / "c.sqlite")
        first, stats1 = label_texts(api_teacher(server.base_url), TEXTS, cache, batch_size=8, show_progress=False)
        paid = len(server.requests)
        second, stats2 = label_texts(api_teacher(server.base_url), TEXTS, cache, batch_size=8, show_progress=False)
    assert paid == 40 and len(server.requests) == 40
    assert (stats1.computed, stats2.computed, stats2.from_cache) == (40, 0, 40)
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_killed_labeling_resumes_where_it_stopped(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(delay=0.05) as server:
        script = textwrap.dedent(f"""
            from pathlib import Path
            from tests.test_teacher_cache import TEXTS, api_teacher
            from toolkit.teachers.cache import TeacherCache
            from toolkit.teachers.labeling import label_texts
            label_texts(api_teacher({server.base_url!r}), TEXTS, TeacherCache(Path({str(cache_path)!r})),
                        batch_size=4, show_progress=False)
        """)
        child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env={**os.environ})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if cache_path.exists() and TeacherCache(cache_path).count(api_teacher(server.base_url).fingerprint()) >= 12:
                break
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)  # no clean-up: as if the machine died
        child.wait()
        done_before = TeacherCache(cache_path).count(api_teacher(server.base_url).fingerprint())
        assert 12 <= done_before < 40, "the kill should land midway"
        requests_before = len(server.requests)
        probs, stats = label_texts(
            api_teacher(server.base_url), TEXTS, TeacherCache(cache_path), batch_size=4, show_progress=False
        )
    assert stats.from_cache == done_before and stats.computed == 40 - done_before
    assert len(server.requests) - requests_before == 40 - done_before  # nothing paid twice
    assert probs.argmax(axis=1).tolist() == [2 if i % 3 == 0 else 1 if i % 3 == 1 else 0 for i in range(40)]


@pytest.mark.slow
def test_two_processes_label_a_pool_like_one(tmp_path: Path, tiny_model_dir: Path, finance_sample: Path) -> None:
    run_dir = tmp_path / "run"
    run(
        RunRequest(domain="finance_risk", data=finance_sample, out=run_dir, overrides=tiny_overrides(tiny_model_dir)),
        log=lambda _: None,
    )
    pool = REPO_ROOT / "data_templates" / "finance_risk" / "unlabeled.csv"
    outputs = {}
    for processes in (2, 1):
        copy = tmp_path / f"run{processes}"
        subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
        (copy / "teachers" / "cache.sqlite").unlink()
        command = [
            *(launch_command(2, "toolkit.cli") if processes == 2 else [sys.executable, "-m", "toolkit.cli"]),
            "label",
            "--run",
            str(copy),
            "--teacher",
            "tiny_bert",
            "--input",
            str(pool),
            "--output",
            str(copy / "pool.parquet"),
        ]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, failure_summary(done.stderr)
        # the main process labeled its share only: 600 / processes texts
        assert f"{600 // processes} computed" in done.stdout.replace("\n", " ")
        outputs[processes] = pd.read_parquet(copy / "pool.parquet")
    assert len(outputs[1]) == 600
    pd.testing.assert_frame_equal(outputs[1], outputs[2], atol=1e-6)
