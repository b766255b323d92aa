"""A small OpenAI-compatible chat-completions server for tests, on 127.0.0.1 (no network beyond loopback).

It answers by keywords: a case mentioning "wire" is label 3, "refund" label 2, anything else label 1. Knobs let
a test switch logprobs off, fail the first requests with 429, slow each answer, or demand an API key.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def answer_for(prompt: str) -> int:
    case = prompt.rsplit("Case:", 1)[-1].lower()
    return 3 if "wire" in case else 2 if "refund" in case else 1


class FakeOpenAI:
    def __init__(
        self, logprobs: bool = True, fail_first: int = 0, delay: float = 0.0, key: str | None = None, port: int = 0
    ) -> None:
        self.logprobs, self.fail_first, self.delay, self.key = logprobs, fail_first, delay, key
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                if server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                    return self._send(401, {"error": "bad key"})
                if len(server.requests) <= server.fail_first:
                    return self._send(429, {"error": "slow down"}, {"Retry-After": "0.01"})
                time.sleep(server.delay)
                self._send(200, server.complete(body))

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def complete(self, body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        right = answer_for(prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 1}
        if body.get("logprobs") and self.logprobs:
            top = [
                {"token": str(right), "logprob": math.log(0.7)},
                {"token": str(1 if right != 1 else 2), "logprob": math.log(0.2)},
            ]
            choice = {
                "message": {"content": str(right)},
                "logprobs": {"content": [{"token": str(right), "top_logprobs": top}]},
            }
            return {"choices": [choice], "usage": usage}
        rng = np.random.default_rng(len(self.requests))
        n = int(body.get("n", 1))
        picks = [right if rng.random() < 0.8 else 1 + (right % 3) for _ in range(n)]
        return {"choices": [{"message": {"content": str(p)}} for p in picks], "usage": usage}

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
