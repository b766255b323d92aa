"""The OpenAI-compatible teacher sends the key and the texts to `base_url` only, waits sanely before retries, and
keeps its spend budget across objects, processes and runs (all against local test servers)."""

from __future__ import annotations

import email.utils
import json
import multiprocessing
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from toolkit.config import TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError
from toolkit.teachers.base import build_teacher
from toolkit.teachers.openai_api import SpendCounter, TeacherAPIError, build_opener, retry_delay

from .openai_server import FakeOpenAI, Recorder

LABELS = ["low", "medium", "high"]
KEY = "sk-test-secret-do-not-leak"
NO_SPLIT = Split([], [])


def teacher(base_url: str, **options):
    spec = TeacherSpec(
        name="api",
        kind="openai",
        options={"base_url": base_url, "requests_per_second": 0, "backoff_seconds": 0.01, **options},
    )
    return build_teacher(spec, LABELS, 0, 128)


def paid_per_request(**options) -> dict:
    """Prices that make every request cost exactly 1.0 (the fake server's answers are one completion token)."""
    return {"price_prompt_per_1k": 0.0, "price_completion_per_1k": 1000.0, **options}


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch):
    """Point every proxy variable at a recording server, with nothing exempted."""
    with Recorder(status=502) as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        yield proxy


# ---------------------------------------------------------------- 1. no proxy for loopback
def test_loopback_teacher_ignores_the_proxy_variables(proxy_env: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", KEY)
    with FakeOpenAI(key=KEY) as server:
        probs = teacher(server.base_url, api_key_env="MY_TEST_KEY", max_retries=0).predict_proba(["wire abroad"])
    assert probs.argmax() == 2
    assert len(server.requests) == 1 and server.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert proxy_env.requests == []  # neither the text nor the key went through the proxy


def test_remote_endpoints_keep_the_environment_proxy(proxy_env: Recorder) -> None:
    def proxies(opener: urllib.request.OpenerDirector) -> dict:
        found = [h for h in opener.handlers if isinstance(h, urllib.request.ProxyHandler)]
        return found[0].proxies if found else {}

    assert proxies(build_opener("https://api.example.com/v1"))["https"] == proxy_env.url
    for loopback in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert proxies(build_opener(loopback)) == {}


# ---------------------------------------------------------------- 2. no redirects
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_refused_and_the_key_stays(code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", KEY)
    with Recorder() as elsewhere:
        target = f"{elsewhere.url}/v1/chat/completions"
        with Recorder(status=code, headers={"Location": target}) as endpoint:
            api = teacher(f"{endpoint.url}/v1", api_key_env="MY_TEST_KEY")
            with pytest.raises(TeacherAPIError, match="redirects are not followed") as caught:
                api.predict_proba(["wire abroad"])
    message = str(caught.value)
    assert endpoint.url in message and target in message and KEY not in message
    assert len(endpoint.requests) == 1  # a redirect is not retried either
    assert elsewhere.requests == []  # no request at all, so no Authorization header went there


# ---------------------------------------------------------------- 3. https for remote endpoints
def test_remote_http_is_refused_even_when_remote_is_allowed() -> None:
    with pytest.raises(ConfigError, match=r"teachers\.api\.options\.base_url.*https is required for remote") as caught:
        teacher("http://api.example.com/v1", allow_remote=True)
    assert caught.value.hint == "use https://api.example.com/v1"


def test_remote_https_and_loopback_http_are_accepted() -> None:
    teacher("https://api.example.com/v1", allow_remote=True)  # builds; nothing is sent before labeling
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        teacher(url)
        teacher(url, allow_remote=True)


def test_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        teacher("file:///etc/passwd", allow_remote=True)


# ---------------------------------------------------------------- 4. Retry-After
def http_date(offset_seconds: float) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=offset_seconds), usegmt=True)


def test_retry_delay_reads_seconds() -> None:
    assert retry_delay("3", attempt=0, backoff=0.5, cap=60) == 3.0
    assert retry_delay(" 0.25 ", attempt=4, backoff=0.5, cap=60) == 0.25


def test_retry_delay_reads_a_date_in_the_future() -> None:
    assert 27.0 <= retry_delay(http_date(30), attempt=0, backoff=0.5, cap=60) <= 30.0


def test_retry_delay_of_a_date_in_the_past_is_zero() -> None:
    assert retry_delay(http_date(-3600), attempt=0, backoff=0.5, cap=60) == 0.0
    assert retry_delay("-5", attempt=0, backoff=0.5, cap=60) == 0.0


@pytest.mark.parametrize("garbage", ["soon", "", "nan", "inf", "12 parsecs", "Thu, 99 Foo 2024"])
def test_retry_delay_falls_back_to_backoff_on_garbage(garbage: str) -> None:
    assert retry_delay(garbage, attempt=2, backoff=0.5, cap=60) == 2.0
    assert retry_delay(None, attempt=2, backoff=0.5, cap=60) == 2.0


def test_retry_delay_is_capped() -> None:
    assert retry_delay("99999999", attempt=0, backoff=0.5, cap=60) == 60.0
    assert retry_delay(http_date(86400 * 365), attempt=0, backoff=0.5, cap=60) == 60.0
    assert retry_delay(None, attempt=30, backoff=0.5, cap=60) == 60.0  # backoff too


def recorded_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits asked of time.sleep, not slept (the fake server's own `sleep(0)` calls are left out)."""
    waits: list[float] = []
    monkeypatch.setattr("toolkit.teachers.openai_api.time.sleep", lambda s: waits.append(s) if s else None)
    return waits


def test_teacher_caps_a_huge_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = recorded_sleeps(monkeypatch)
    with FakeOpenAI(fail_first=1, retry_after="86400") as server:
        probs = teacher(server.base_url, max_retry_wait_seconds=0.5).predict_proba(["wire"])
    assert probs.argmax() == 2 and waits == [0.5]


def test_teacher_survives_a_garbage_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = recorded_sleeps(monkeypatch)
    with FakeOpenAI(fail_first=2, retry_after="later, maybe") as server:
        probs = teacher(server.base_url, backoff_seconds=0.25).predict_proba(["wire"])
    assert probs.argmax() == 2 and waits == [0.25, 0.5]


def test_negative_max_retry_wait_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"teachers\.api\.options\.max_retry_wait_seconds"):
        teacher("http://127.0.0.1:8000/v1", max_retry_wait_seconds=-1)


# ---------------------------------------------------------------- 5. spend kept across objects, processes, runs
def stored(folder: Path) -> dict:
    return json.loads((folder / "spend.json").read_text())


def test_two_teachers_sharing_a_folder_stop_together_at_the_budget(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        first = teacher(server.base_url, **paid_per_request(max_spend=3.0))
        second = teacher(server.base_url, **paid_per_request(max_spend=3.0))
        first.fit(NO_SPLIT, NO_SPLIT, tmp_path)  # what every process of a run does with the teacher's folder
        second.load(tmp_path)
        first.predict_proba(["wire 1", "wire 2"])
        second.predict_proba(["wire 3"])
        for api in (first, second):
            with pytest.raises(TeacherAPIError, match="spend budget reached: 3.0000 of 3.0000"):
                api.predict_proba(["wire 4"])
    assert len(server.requests) == 3
    assert stored(tmp_path)["requests"] == 3 and stored(tmp_path)["spent"] == pytest.approx(3.0)


def test_a_later_run_starts_from_the_stored_total(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        run1 = teacher(server.base_url, **paid_per_request(max_spend=3.0))
        run1.fit(NO_SPLIT, NO_SPLIT, tmp_path)
        run1.predict_proba(["wire 1", "wire 2"])
        run1.save(tmp_path)
        run2 = teacher(server.base_url, **paid_per_request(max_spend=3.0))
        run2.load(tmp_path)
        assert run2.spend.to_dict()["requests"] == 2
        run2.save(tmp_path)  # saving again never resets the stored totals
        assert stored(tmp_path)["requests"] == 2
        run2.predict_proba(["wire 3"])
        with pytest.raises(TeacherAPIError, match="spend budget reached"):
            run2.predict_proba(["wire 4"])
        run3 = teacher(server.base_url, **paid_per_request(max_spend=3.0))
        run3.load(tmp_path)
        with pytest.raises(TeacherAPIError, match="spend budget reached"):
            run3.predict_proba(["wire 5"])
    assert len(server.requests) == 3 and stored(tmp_path)["requests"] == 3


def test_counts_made_before_binding_are_added_once(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        api = teacher(server.base_url, **paid_per_request())
        api.predict_proba(["wire 1"])
        api.save(tmp_path)
        api.save(tmp_path)
        api.load(tmp_path)
    assert stored(tmp_path)["requests"] == 1


def test_the_key_is_never_written_next_to_the_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", KEY)
    with FakeOpenAI(key=KEY) as server:
        api = teacher(server.base_url, api_key_env="MY_TEST_KEY")
        api.fit(NO_SPLIT, NO_SPLIT, tmp_path)
        api.predict_proba(["wire", "refund"])
        api.save(tmp_path)
    assert stored(tmp_path)["requests"] == 2
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert sorted(p.name for p in written) == ["spend.json", "spend.json.lock"]  # no temp file left behind
    assert all(KEY not in path.read_text() for path in written)


def test_an_unreadable_counter_is_not_silently_reset(tmp_path: Path) -> None:
    (tmp_path / "spend.json").write_text("{not json")
    with pytest.raises(TeacherAPIError, match="cannot read the spend counter"):
        teacher("http://127.0.0.1:8000/v1").load(tmp_path)


def _add_many(path: str, times: int, start) -> None:
    counter = SpendCounter(1.0, 0.0, None, Path(path))
    start.wait()
    for _ in range(times):
        counter.add({"prompt_tokens": 1000, "completion_tokens": 0})


def test_concurrent_adds_lose_no_update(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(3)
    path = str(tmp_path / "spend.json")
    workers = [context.Process(target=_add_many, args=(path, 40, start)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert stored(tmp_path)["requests"] == 120 and stored(tmp_path)["spent"] == pytest.approx(120.0)


def _label_until_refused(base_url: str, folder: str, start, results) -> None:
    api = teacher(base_url, **paid_per_request(max_spend=5.0))
    api.load(Path(folder))
    start.wait()
    try:
        for i in range(20):
            api.predict_proba([f"wire {i}"])
        results.put("never refused")
    except TeacherAPIError as error:
        results.put("refused" if "spend budget reached" in str(error) else repr(error))
    except Exception as error:  # reported to the parent, which names it
        results.put(repr(error))


def test_two_processes_stop_together_at_the_budget(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with FakeOpenAI() as server:
        start, results = context.Barrier(2), context.Queue()
        workers = [
            context.Process(target=_label_until_refused, args=(server.base_url, str(tmp_path), start, results))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        outcomes = [results.get(timeout=5) for _ in workers]
        time.sleep(0.05)  # the server thread has recorded every answered request
    assert outcomes == ["refused", "refused"]
    # each process checks before it sends, so at most one request per other process can be in flight at the limit
    assert 5 <= len(server.requests) <= 6
    assert stored(tmp_path)["requests"] == len(server.requests)  # every paid request counted once
