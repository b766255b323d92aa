"""A teacher behind any OpenAI-compatible chat-completions endpoint (a hosted API or a local server).

Label probabilities come from the first answer token's `logprobs` when the server offers them; otherwise from k
sampled answers (self-consistency votes, smoothed). Requests are retried with exponential backoff on rate limits
and server errors, paced by a rate limit, and counted by a spend counter that stops at a budget. The API key is
read from an environment variable and never logged or written anywhere.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from toolkit.distill.fit import Split
from toolkit.errors import ConfigError, UserInputError
from toolkit.teachers.base import stable_hash
from toolkit.teachers.llm import DEFAULT_INSTRUCTION, build_prompt

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class TeacherAPIError(UserInputError):
    """The endpoint refused or failed past every retry, or the spend budget was reached."""


class SpendCounter:
    """Tokens and money spent by one teacher, persisted next to it so a re-run keeps counting."""

    def __init__(self, prompt_per_1k: float, completion_per_1k: float, budget: float | None) -> None:
        self.prompt_per_1k, self.completion_per_1k, self.budget = prompt_per_1k, completion_per_1k, budget
        self.prompt_tokens = self.completion_tokens = self.requests = 0

    @property
    def spent(self) -> float:
        return self.prompt_tokens / 1000 * self.prompt_per_1k + self.completion_tokens / 1000 * self.completion_per_1k

    def add(self, usage: dict) -> None:
        self.requests += 1
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))

    def check(self) -> None:
        if self.budget is not None and self.spent >= self.budget:
            raise TeacherAPIError(
                f"spend budget reached: {self.spent:.4f} of {self.budget:.4f}",
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


class OpenAITeacher:
    """Options: `base_url`, `model`, `api_key_env`, `votes` (k), `max_retries`, `requests_per_second`,
    `price_prompt_per_1k`, `price_completion_per_1k`, `max_spend`, `allow_remote` (False keeps data on this
    machine: only loopback endpoints are called)."""

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
        requests_per_second: float = 5.0,
        timeout_seconds: float = 60.0,
        price_prompt_per_1k: float = 0.0,
        price_completion_per_1k: float = 0.0,
        max_spend: float | None = None,
        allow_remote: bool = False,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> None:
        host = urlparse(base_url).hostname or ""
        if host not in LOCAL_HOSTS and not allow_remote:
            raise ConfigError(
                f"teachers.{name}.options.base_url: {base_url} is not on this machine; set "
                "allow_remote: true only for data you may send outside (never for clinical records)"
            )
        self.name = name
        self.label_names = label_names
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
        self.seed = seed
        self.max_retries, self.backoff, self.timeout = max_retries, backoff_seconds, timeout_seconds
        self.min_interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.spend = SpendCounter(price_prompt_per_1k, price_completion_per_1k, max_spend)
        self._last_request = 0.0
        self.logprobs_supported: bool | None = None

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
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.loads(response.read())
                self.spend.add(answer.get("usage", {}))
                return answer
            except urllib.error.HTTPError as error:
                if error.code not in RETRY_STATUS or attempt == self.max_retries:
                    detail = error.read().decode(errors="replace")[:200]
                    raise TeacherAPIError(
                        f"teacher {self.name}: {self.base_url} answered {error.code}: {detail}",
                        hint=None if error.code not in (401, 403) else f"check the key in ${self.api_key_env}",
                    ) from None
                retry_after = error.headers.get("Retry-After")
                delay = float(retry_after) if retry_after else self.backoff * 2**attempt
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.max_retries:
                    raise TeacherAPIError(f"teacher {self.name}: cannot reach {self.base_url}: {error}") from None
                delay = self.backoff * 2**attempt
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
        """Nothing to learn: the model behind the endpoint is used as it is."""

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, len(self.label_names)))

    def fingerprint(self) -> str:
        return stable_hash({"kind": "openai", "options": self.options})  # the key is never part of it

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spend.json").write_text(json.dumps(self.spend.to_dict(), indent=2))

    def load(self, folder: Path) -> None:
        """Nothing to restore: outputs live in the cache."""
