"""CPU latency the way a deployment sees it: real texts (their own lengths, tokenization included), after a
warm-up, one text at a time (p50 / p95) and in batches (throughput), each figure the median over repeats."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from statistics import median

import numpy as np
import torch

from toolkit.config import LatencySpec


def measure_latency(predict: Callable[[list[int]], object], items: int, spec: LatencySpec) -> dict:
    """Time `predict` on item indices 0..items-1 (the caller maps them to texts / rows): batch 1 and `batch_size`."""
    order = list(range(min(items, spec.texts)))
    for i in order[: spec.warmup]:
        predict([i])
    p50, p95, throughput = [], [], []
    for _ in range(spec.repeats):
        times = []
        for i in order:
            start = time.perf_counter()
            predict([i])
            times.append(time.perf_counter() - start)
        p50.append(float(np.percentile(times, 50)) * 1000)
        p95.append(float(np.percentile(times, 95)) * 1000)
        start = time.perf_counter()
        for first in range(0, len(order), spec.batch_size):
            predict(order[first : first + spec.batch_size])
        throughput.append(len(order) / (time.perf_counter() - start))
    return {
        "p50_ms": round(median(p50), 3),
        "p95_ms": round(median(p95), 3),
        "throughput_per_s": round(median(throughput), 1),
        "batch_size": spec.batch_size,
        "texts": len(order),
        "repeats": spec.repeats,
    }


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads in PyTorch (every core when None); returns the number set."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def token_lengths(tokenizer, texts: Sequence[str], max_length: int) -> dict:
    """Tokens per text after truncation: what the timed inputs look like."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    return {"mean": round(float(np.mean(lengths)), 1), "p95": int(np.percentile(lengths, 95)), "max": max(lengths)}
