"""A small OpenAI-compatible chat-completions server for tests, on 127.0.0.1 (no network beyond loopback).

It answers by keywords: a case mentioning "wire" is label 3, "refund" label 2, anything else label 1. Knobs let
a test switch logprobs off, fail the first requests with 429 (with a chosen `Retry-After`), slow each answer, or
demand an API key. `Recorder` is a server that answers every request the same way and keeps what it got: a proxy
or a redirect target that must see nothing, or an endpoint that redirects.
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
        self,
        logprobs: bool = True,
        fail_first: int = 0,
        delay: float = 0.0,
        key: str | None = None,
        port: int = 0,
        retry_after: str | None = "0.01",
    ) -> None:
        self.logprobs, self.fail_first, self.delay, self.key = logprobs, fail_first, delay, key
        self.retry_after = retry_after
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
                    wait = {"Retry-After": server.retry_after} if server.retry_after is not None else {}
                    return self._send(429, {"error": "slow down"}, wait)
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


class Recorder:
    """Answers every request with `status` (plus `headers`) and records its method, path, headers and body."""

    def __init__(self, status: int = 404, headers: dict | None = None) -> None:
        self.status, self.answer_headers = status, dict(headers or {})
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                data = json.dumps({"error": "recorded"}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in server.answer_headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_CONNECT = _record  # noqa: N815 - http.server's names

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
