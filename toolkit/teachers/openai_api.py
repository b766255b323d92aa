"""A teacher behind any OpenAI-compatible chat-completions endpoint (a hosted API or a local server).

Label probabilities come from the first answer token's `logprobs` when the server offers them; otherwise from k
sampled answers (self-consistency votes, smoothed). Requests are retried with exponential backoff on rate limits
and server errors, paced by a rate limit, and counted by a spend counter that stops at a budget; the counter is
kept in the teacher's folder, so the budget holds across runs and processes. The API key is read from an
environment variable and never logged or written anywhere; it is sent only to `base_url` itself: loopback
endpoints are called without any proxy, redirects are never followed, and remote endpoints need https.
"""

from __future__ import annotations

import email.utils
import fcntl
import ipaddress
import json
import math
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from toolkit.config import FieldSpec, TeacherSpec
from toolkit.data.splits import Split
from toolkit.errors import ConfigError, UserInputError
from toolkit.packs import Pack
from toolkit.teachers.base import BaseTeacher, register_teacher, stable_hash
from toolkit.teachers.llm import DEFAULT_INSTRUCTION, build_prompt, with_label_descriptions

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
SPEND_FILE = "spend.json"


class TeacherAPIError(UserInputError):
    """The endpoint refused or failed past every retry, or the spend budget was reached."""


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine (`localhost` or any loopback address, e.g. 127.0.0.2 or ::1)."""
    if host.lower() in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_delay(header: str | None, attempt: int, backoff: float, cap: float) -> float:
    """Seconds to wait before retry `attempt` (0-based): the server's `Retry-After` (delta-seconds or an
    HTTP-date) when it parses, else exponential backoff; never negative, never above `cap`.

    >>> retry_delay("2", 0, 0.5, 60), retry_delay(None, 3, 0.5, 60), retry_delay("soon", 1, 0.5, 60)
    (2.0, 4.0, 1.0)
    >>> retry_delay("-5", 0, 0.5, 60), retry_delay("86400", 0, 0.5, 60)
    (0.0, 60.0)
    """
    delay = backoff * 2**attempt
    value = (header or "").strip()
    try:
        seconds = float(value)
        if math.isfinite(seconds):  # "nan" and "inf" parse as floats but mean nothing here
            delay = seconds
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass  # absent or garbage: keep the backoff rather than trusting or crashing on it
        else:
            if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are always UTC
                when = when.replace(tzinfo=UTC)
            delay = (when - datetime.now(UTC)).total_seconds()
    return float(min(max(delay, 0.0), max(cap, 0.0)))


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: urllib would turn a POST answered 301/302/303 into a GET to whatever host the answer
    names, resending the `Authorization` header. Returning None lets every 3xx surface as an HTTPError."""

    def redirect_request(
        self, req: urllib.request.Request, fp: object, code: int, msg: str, headers: object, newurl: str
    ) -> None:
        return None


def build_opener(base_url: str) -> urllib.request.OpenerDirector:
    """An opener that never follows redirects, and for a loopback `base_url` ignores `http_proxy`/`https_proxy`
    (urllib would otherwise send local patient text and the key to the proxy); remote hosts keep the
    environment's proxy settings, which a site may need to reach the internet at all."""
    handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
    if is_loopback(urlparse(base_url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


class SpendCounter:
    """Tokens and money spent by one teacher. With a `path` (the teacher's `spend.json`) the file holds the
    totals: every `add` is a read-modify-write under an exclusive lock on a sidecar `.lock` file, and `check`
    reads the stored total, so processes sharing the folder (or a later run) stop together at the budget."""

    def __init__(
        self, prompt_per_1k: float, completion_per_1k: float, budget: float | None, path: Path | None = None
    ) -> None:
        self.prompt_per_1k, self.completion_per_1k, self.budget = prompt_per_1k, completion_per_1k, budget
        self.prompt_tokens = self.completion_tokens = self.requests = 0
        # money is summed at the prices of its day: a later price change does not rewrite what was spent
        self._spent = 0.0
        self.path: Path | None = None
        if path is not None:
            self.bind(path)

    @property
    def spent(self) -> float:
        return self._spent

    def bind(self, path: Path) -> None:
        """Keep the totals in `path` from now on; anything counted before binding is added to the stored totals
        (once), and binding the same path again changes nothing."""
        path = Path(path)
        if self.path is not None and self.path.resolve() == path.resolve():
            return
        unsaved = (
            (self.requests, self.prompt_tokens, self.completion_tokens, self._spent) if self.path is None else None
        )
        self.path = path
        if unsaved is not None and any(unsaved):
            self._update(*unsaved)
        else:
            self._read()

    def add(self, usage: dict) -> None:
        prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        cost = prompt / 1000 * self.prompt_per_1k + completion / 1000 * self.completion_per_1k
        if self.path is None:
            self.requests += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self._spent += cost
        else:
            self._update(1, prompt, completion, cost)

    def persist(self) -> None:
        """Write the stored totals (creating the file if no request was made yet) without changing them."""
        if self.path is not None:
            self._update(0, 0, 0, 0.0)

    def check(self) -> None:
        if self.path is not None:
            self._read()  # another process, or an earlier run, may have spent since
        if self.budget is not None and self.spent >= self.budget:
            where = f" (kept in {self.path})" if self.path is not None else ""
            raise TeacherAPIError(
                f"spend budget reached: {self.spent:.4f} of {self.budget:.4f}{where}",
                hint="raise options.max_spend; outputs so far are cached and will not be paid again",
            )

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "spent": round(self.spent, 6),
            "budget": self.budget,
        }

    # ---------------------------------------------------------------- storage
    def _read(self) -> None:
        """Mirror the stored totals (none stored yet: zeros). No lock needed: writes replace the file whole."""
        assert self.path is not None
        try:
            stored = json.loads(self.path.read_text())
            totals = (
                int(stored["requests"]),
                int(stored["prompt_tokens"]),
                int(stored["completion_tokens"]),
                float(stored["spent"]),
            )
        except FileNotFoundError:
            totals = (0, 0, 0, 0.0)
        except (OSError, ValueError, KeyError, TypeError) as error:
            # an unreadable counter must not silently restart from zero: that would lift the budget
            raise TeacherAPIError(
                f"{self.path}: cannot read the spend counter ({error})",
                hint="restore the file, or delete it only if you know nothing was spent through this teacher",
            ) from None
        self.requests, self.prompt_tokens, self.completion_tokens, self._spent = totals

    def _update(self, requests: int, prompt: int, completion: int, cost: float) -> None:
        """Add to the stored totals under an exclusive lock, then replace the file atomically."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            self._read()
            self.requests += requests
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self._spent += cost
            record = {**self.to_dict(), "spent": self._spent}  # unrounded: the sum must not drift
            handle, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(handle, "w") as out:
                    out.write(json.dumps(record, indent=2))
                    out.flush()
                    os.fsync(out.fileno())  # on disk before it replaces the old totals: a crash keeps one of them
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise


@register_teacher("openai")
class OpenAITeacher(BaseTeacher):
    """Options: `base_url`, `model`, `api_key_env`, `votes` (k), `max_retries`, `backoff_seconds`,
    `max_retry_wait_seconds` (the longest wait before a retry, whatever `Retry-After` asks; default 60),
    `requests_per_second`, `timeout_seconds`, `price_prompt_per_1k`, `price_completion_per_1k`, `max_spend` (a
    budget over every run and process using this teacher's folder: the totals are kept in its `spend.json`),
    `allow_remote` (False keeps data on this machine: only loopback endpoints are called; True needs an https
    `base_url`). Loopback endpoints are called without the environment's proxy, and no endpoint's redirect is
    followed, so the key and the texts go to `base_url` only."""

    paid = True

    def __init__(
        self,
        name: str,
        label_names: list[str],
        seed: int,
        max_length: int,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str = "gpt-4o-mini",
        api_key_env: str = "OPENAI_API_KEY",
        label_descriptions: Sequence[str] | None = None,
        votes: int = 5,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        max_retry_wait_seconds: float = 60.0,
        requests_per_second: float = 5.0,
        timeout_seconds: float = 60.0,
        price_prompt_per_1k: float = 0.0,
        price_completion_per_1k: float = 0.0,
        max_spend: float | None = None,
        allow_remote: bool = False,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> None:
        parsed = urlparse(base_url)
        host = parsed.hostname or ""
        where = f"teachers.{name}.options.base_url"
        if parsed.scheme not in ("http", "https"):
            raise ConfigError(f"{where}: {base_url} is not an http(s) address", hint="e.g. http://127.0.0.1:8000/v1")
        if not is_loopback(host):
            if not allow_remote:
                raise ConfigError(
                    f"{where}: {base_url} is not on this machine; set allow_remote: true only for data you may "
                    "send outside (never for clinical records)"
                )
            if parsed.scheme != "https":
                # plain http would carry the key and every text readable by anyone on the way
                raise ConfigError(
                    f"{where}: {base_url} uses http; https is required for remote endpoints",
                    hint=f"use https://{parsed.netloc}{parsed.path}",
                )
        if max_retry_wait_seconds < 0:
            raise ConfigError(
                f"teachers.{name}.options.max_retry_wait_seconds: {max_retry_wait_seconds} is negative",
                hint="a number of seconds, 0 or more (default 60)",
            )
        super().__init__(name, label_names, seed, max_length)
        self.descriptions = list(label_descriptions or [""] * len(label_names))
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.options = {
            "base_url": self.base_url,
            "model": model,
            "votes": votes,
            "instruction": instruction,
            "descriptions": self.descriptions,
        }
        self.max_retries, self.backoff, self.timeout = max_retries, backoff_seconds, timeout_seconds
        self.max_retry_wait = max_retry_wait_seconds
        self.min_interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.spend = SpendCounter(price_prompt_per_1k, price_completion_per_1k, max_spend)
        self._last_request = 0.0
        self._opener = build_opener(self.base_url)
        self.logprobs_supported: bool | None = None

    @classmethod
    def pack_options(
        cls, options: dict[str, Any], spec: TeacherSpec, pack: Pack | None, fields: Sequence[FieldSpec] | None
    ) -> dict[str, Any]:
        return with_label_descriptions(options, pack)

    # ------------------------------------------------------------------ HTTP
    def _post(self, payload: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = json.dumps(payload).encode()
        for attempt in range(self.max_retries + 1):
            self.spend.check()
            wait = self._last_request + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()
            request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    answer = json.loads(response.read())
                self.spend.add(answer.get("usage", {}))
                return answer
            except urllib.error.HTTPError as error:
                if 300 <= error.code < 400:
                    location = error.headers.get("Location", "(no Location header)")
                    raise TeacherAPIError(
                        f"teacher {self.name}: {self.base_url} answered {error.code}, a redirect to {location}; "
                        "redirects are not followed so that the API key and the texts never go elsewhere",
                        hint=f"set teachers.{self.name}.options.base_url to the address that answers itself",
                    ) from None
                if error.code not in RETRY_STATUS or attempt == self.max_retries:
                    detail = error.read().decode(errors="replace")[:200]
                    raise TeacherAPIError(
                        f"teacher {self.name}: {self.base_url} answered {error.code}: {detail}",
                        hint=None if error.code not in (401, 403) else f"check the key in ${self.api_key_env}",
                    ) from None
                delay = retry_delay(error.headers.get("Retry-After"), attempt, self.backoff, self.max_retry_wait)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.max_retries:
                    raise TeacherAPIError(f"teacher {self.name}: cannot reach {self.base_url}: {error}") from None
                delay = retry_delay(None, attempt, self.backoff, self.max_retry_wait)
            time.sleep(delay)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ teacher API
    def _messages(self, text: str) -> list[dict]:
        numbered = [f"{i + 1}" for i in range(len(self.label_names))]
        prompt = build_prompt(
            self.options["instruction"] + " Answer with the label's number only.",
            [f"{n}. {label}" for n, label in zip(numbered, self.label_names, strict=True)],
            self.descriptions,
            [],
            text,
        )
        return [{"role": "user", "content": prompt}]

    def _from_logprobs(self, answer: dict) -> np.ndarray | None:
        try:
            top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            return None
        probs = np.full(len(self.label_names), 1e-6)
        for entry in top:
            token = entry["token"].strip().rstrip(".")
            if token.isdigit() and 1 <= int(token) <= len(self.label_names):
                probs[int(token) - 1] += float(np.exp(entry["logprob"]))
        return probs / probs.sum()

    def _from_votes(self, text: str) -> np.ndarray:
        k = int(self.options["votes"])
        answer = self._post(
            {
                "model": self.options["model"],
                "messages": self._messages(text),
                "max_tokens": 3,
                "temperature": 1.0,
                "n": k,
                "seed": self.seed,
            }
        )
        counts = np.full(len(self.label_names), 0.5)  # smoothing: k votes never give a hard 0 or 1
        for choice in answer.get("choices", [])[:k]:
            token = str(choice.get("message", {}).get("content", "")).strip().rstrip(".")[:2].strip()
            if token.isdigit() and 1 <= int(token) <= len(self.label_names):
                counts[int(token) - 1] += 1
        return counts / counts.sum()

    def _one(self, text: str) -> np.ndarray:
        if self.logprobs_supported is not False:
            answer = self._post(
                {
                    "model": self.options["model"],
                    "messages": self._messages(text),
                    "max_tokens": 1,
                    "temperature": 0,
                    "logprobs": True,
                    "top_logprobs": 10,
                }
            )
            probs = self._from_logprobs(answer)
            self.logprobs_supported = probs is not None
            if probs is not None:
                return probs
        return self._from_votes(text)

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Nothing to learn: the model behind the endpoint is used as it is. `work_dir` is the teacher's folder,
        where the spend counter is kept from now on (every process of a run binds the same file)."""
        self.spend.bind(Path(work_dir) / SPEND_FILE)

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, len(self.label_names)))

    def fingerprint(self) -> str:
        return stable_hash({"kind": "openai", "options": self.options})  # the key is never part of it

    def save(self, folder: Path) -> None:
        """Write the spend counter to `folder`: the stored totals grow, never reset (the key is never written)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.spend.bind(folder / SPEND_FILE)
        self.spend.persist()

    def load(self, folder: Path) -> None:
        """Outputs live in the cache; the spend counter continues from the totals stored in `folder`."""
        self.spend.bind(Path(folder) / SPEND_FILE)
