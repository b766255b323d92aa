"""The finance pack's rule teacher: red flags and typologies a monitoring team writes as rules.

`score(texts)` reads rendered inputs (narrative + fields) and returns points per label (low, medium, high); the
core rule teacher turns points into probabilities.
"""

from __future__ import annotations

import re

import numpy as np

HIGH = [
    r"reporting (threshold|limit)|just under the reporting|what amount triggers a report",
    r"safe account|guaranteed returns|send the money urgently|caller told",
    r"sanctions",
    r"password and phone number changed|unseen device|new device in another country",
    r"left the account within an hour|sent on to a third party the same day|returns to near zero",
    r"does not match the customer'?s profile|far above what the stated occupation|many times the declared income",
    r"high-risk corridor|weak aml controls|high-risk list",
    r"account opened recently|newly opened account",
    r"country risk high",
    r"account age \d+ days \(new\)",
]
MEDIUM = [
    r"round.figure|exact round amounts",
    r"first transaction of this type|no history of such",
    r"declined earlier",
    r"unusual hour|3 a\.m\.",
    r"country risk medium",
    r"account age \d+ days \(recent\)",
    r"prior alerts [1-9]",
    r"channel (wire|crypto_exchange)",
    r"amount [\d,]+ usd \(large\)",
]
LOW = [
    r"confirmed the (payment|transfer)",
    r"recurring payment|standing order",
    r"salary deposit|payroll credit",
    r"travel notice",
    r"paid regularly for several years|long-standing supplier",
    r"supporting invoice|documents on file",
    r"own savings|accounts owned by the (customer|cust)",
    r"amount [\d,.]+ usd \(small\)",
]
_COMPILED = [[re.compile(p) for p in group] for group in (LOW, MEDIUM, HIGH)]


def score(texts: list[str]) -> np.ndarray:
    """Points per label (low, medium, high) for each rendered case."""
    points = np.zeros((len(texts), 3))
    for i, text in enumerate(texts):
        lowered = text.lower()
        hits = [sum(bool(p.search(lowered)) for p in group) for group in _COMPILED]
        points[i] = [1.0 + 1.5 * hits[0], 0.5 + hits[1] + 0.5 * hits[2], 1.5 * hits[2] + 0.3 * hits[1]]
    return points
