"""The triage pack's rule teacher: ESI-style discriminators a triage protocol writes down.

`score(texts)` reads rendered inputs (complaint + vitals) and returns points per label (non_urgent, urgent,
emergent); danger-zone vitals (HR > 130, RR > 28, SpO2 < 90, SBP < 90) count as strongly as a life-threatening
complaint. The core rule teacher turns points into probabilities.
"""

from __future__ import annotations

import re

import numpy as np

EMERGENT = [
    r"crushing|radiating to the (left arm|jaw)|clammy|chest (pressure|tightness)",
    r"slurred|facial droop|garbled|weakness of the|loss of vision",
    r"cannot finish sentences|lips blue|neck muscles",
    r"throat tightness|lip swelling|tongue swelling|hives and wheezing",
    r"unresponsive|responds only to pain|not waking",
    r"bright red blood|tarry|blood in the stool",
    r"seizure",
    r"car crash|stab wound|fell from a ladder",
    r"suicidal|overdose",
]
URGENT = [
    r"abd(ominal)? pain|belly pain",
    r"fever|chills|temp [\d.]+ c \(fever\)",
    r"deformed|cannot bear weight|broken",
    r"deep cut|laceration|stitches",
    r"asthma|wheezing",
    r"flank|groin",
    r"worst headache|stiff neck",
    r"confusion|not making sense",
    r"pain \d+/10 \(severe\)",
    r"on blood thinners|on chemotherapy|pregnant",
]
NON_URGENT = [
    r"sore throat|scratchy throat|rash|refill|ran out of|sprain|twisted ankle|runny nose|cold symptoms|sneezing",
    r"ear ?ache|ear pain|back ache|chronic|insect bite|splinter|suture removal|wound check|mild",
]
VITALS = {"hr": r"\bhr (\d+)", "rr": r"\brr (\d+)", "spo2": r"spo2 (\d+)%", "sbp": r"\bsbp (\d+)"}
_COMPILED = [[re.compile(p) for p in group] for group in (NON_URGENT, URGENT, EMERGENT)]
_VITALS = {name: re.compile(p) for name, p in VITALS.items()}


def danger_zone(text: str) -> bool:
    values = {name: int(m.group(1)) for name, p in _VITALS.items() if (m := p.search(text))}
    return (
        values.get("hr", 0) > 130
        or values.get("rr", 0) > 28
        or values.get("spo2", 100) < 90
        or values.get("sbp", 200) < 90
    )


def score(texts: list[str]) -> np.ndarray:
    """Points per label (non_urgent, urgent, emergent) for each rendered case."""
    points = np.zeros((len(texts), 3))
    for i, text in enumerate(texts):
        lowered = text.lower()
        hits = [sum(bool(p.search(lowered)) for p in group) for group in _COMPILED]
        emergent = 2.0 * hits[2] + (3.0 if danger_zone(lowered) else 0.0)
        points[i] = [1.0 + 1.5 * hits[0], 0.8 + hits[1], emergent]
    return points
