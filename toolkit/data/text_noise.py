"""Realistic noise for generated example text: typos and the abbreviations people actually type."""

from __future__ import annotations

import re

import numpy as np


def add_typo(text: str, rng: np.random.Generator) -> str:
    """Swap two neighbouring letters inside one word of four letters or more."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = int(rng.choice(candidates))
    j = int(rng.integers(1, len(words[i]) - 2))
    w = words[i]
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def abbreviate(text: str, abbreviations: dict[str, str], rng: np.random.Generator, share: float = 0.6) -> str:
    """Replace some whole-word phrases by their abbreviation (each found phrase with probability `share`)."""
    for phrase, short in abbreviations.items():
        if rng.random() < share:
            text = re.sub(rf"\b{re.escape(phrase)}\b", short, text, flags=re.IGNORECASE)
    return text
