"""Seeded generator of emergency-department triage cases for the medical triage pack.

A case is a chief-complaint narrative plus triage vitals. The acuity follows the logic of the Emergency Severity
Index: the complaint sets a base level, and "danger zone" vitals (very fast heart or breathing, low oxygen
saturation, low blood pressure) raise it, with noise for the judgement calls nurses make. All phrases are
written for this project; none come from patient records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.synthesis import distinct_cases

LEVELS = ["non_urgent", "urgent", "emergent"]

# (complaint phrasing variants, base level index, typical vitals shift: 0 calm .. 2 deranged)
COMPLAINTS = [
    (
        [
            "crushing chest pain radiating to the left arm",
            "chest pressure with sweating and nausea",
            "CP radiating to jaw, diaphoretic",
        ],
        2,
        1,
    ),
    (
        [
            "sudden weakness of the right arm and slurred speech",
            "facial droop and confusion that started an hour ago",
            "cannot lift left arm, speech garbled",
        ],
        2,
        1,
    ),
    (
        [
            "severe shortness of breath, cannot finish sentences",
            "struggling to breathe, lips look blue",
            "SOB at rest, using accessory muscles",
        ],
        2,
        2,
    ),
    (
        [
            "throat tightness and lip swelling after eating peanuts",
            "hives all over and wheezing after a bee sting",
            "tongue swelling after new medication",
        ],
        2,
        2,
    ),
    (
        [
            "found unresponsive on the floor by family",
            "not waking up properly after a fall",
            "altered mental status, responds only to pain",
        ],
        2,
        2,
    ),
    (["vomiting bright red blood", "large amount of blood in the stool and dizzy", "coughing up blood clots"], 2, 1),
    (["seizure lasting more than five minutes", "repeated seizures without waking in between"], 2, 1),
    (["high speed car crash, belly pain", "fell from a ladder, hit head, vomiting", "stab wound to the abdomen"], 2, 2),
    (
        [
            "right lower abdominal pain since yesterday with nausea",
            "abdominal pain and vomiting, cannot keep fluids down",
            "belly pain worse on movement, low appetite",
        ],
        1,
        1,
    ),
    (
        ["fever and productive cough for four days", "cough with green sputum and chills", "fever, cough, feels weak"],
        1,
        1,
    ),
    (
        [
            "fell on outstretched hand, wrist swollen and deformed",
            "twisted knee, cannot bear weight",
            "possible broken ankle after a fall down stairs",
        ],
        1,
        0,
    ),
    (
        [
            "deep cut on the hand from a kitchen knife, bleeding controlled",
            "laceration on the forehead, needs stitches",
        ],
        1,
        0,
    ),
    (["asthma flare, inhaler helping only a little", "wheezing since this morning, used inhaler four times"], 1, 1),
    (["severe flank pain coming in waves, history of kidney stones", "pain in the side radiating to the groin"], 1, 0),
    (["worst headache in weeks with vomiting", "headache with fever and stiff neck"], 1, 1),
    (["burning urination with fever and back pain", "urinary symptoms and shaking chills"], 1, 1),
    (["chest pain when breathing in after a cold", "chest wall pain after lifting boxes"], 1, 0),
    (["sore throat for two days", "scratchy throat and mild cough", "throat pain when swallowing, no fever"], 0, 0),
    (["itchy rash on the forearm", "red patches on the legs for a week", "mild rash after a new soap"], 0, 0),
    (
        [
            "needs a refill of blood pressure medication",
            "ran out of inhaler, no symptoms now",
            "prescription refill request",
        ],
        0,
        0,
    ),
    (["twisted ankle, walking on it", "sprained wrist playing tennis, moves fine"], 0, 0),
    (["runny nose and congestion", "cold symptoms for three days", "sneezing and blocked nose"], 0, 0),
    (["ear pain since yesterday", "earache and muffled hearing"], 0, 0),
    (["chronic lower back pain, same as usual", "back ache after gardening"], 0, 0),
    (["insect bite on the leg, a bit swollen", "splinter in the finger"], 0, 0),
    (["here for suture removal", "wound check after minor surgery"], 0, 0),
]
ONSETS = [
    "",
    "since this morning",
    "for 2 days",
    "for a week",
    "started an hour ago",
    "on and off for 3 days",
    "since last night",
]
PREFIXES = ["", "", "pt states", "per EMS:", "patient reports", "walk-in:", "brought by family:"]
HISTORY = [
    "",
    "",
    "",
    "hx of diabetes",
    "hx of hypertension",
    "on blood thinners",
    "hx of COPD",
    "pregnant",
    "no significant history",
]


def _vitals(rng: np.random.Generator, shift: int, age: int) -> dict:
    # shift 0: normal vitals; 1: some derangement; 2: often in the danger zone.
    heart_rate = rng.normal([82, 98, 118][shift], [12, 16, 20][shift])
    resp_rate = rng.normal([16, 19, 25][shift], [2, 3, 5][shift])
    spo2 = 100 - rng.gamma([1.5, 2.5, 5.0][shift], [1.0, 1.3, 1.9][shift])
    systolic = rng.normal([128, 124, 112][shift], [14, 20, 28][shift]) + 0.25 * (age - 45)
    temperature = rng.normal([36.8, 37.6, 37.3][shift], [0.3, 0.8, 0.9][shift])
    return {
        "heart_rate": int(np.clip(heart_rate, 35, 190)),
        "resp_rate": int(np.clip(resp_rate, 8, 45)),
        "spo2": int(np.clip(spo2, 70, 100)),
        "systolic_bp": int(np.clip(systolic, 60, 230)),
        "temperature_c": float(np.round(np.clip(temperature, 34.5, 41.5), 1)),
    }


def _danger_zone(v: dict, age: int) -> bool:
    return (
        v["heart_rate"] > 130
        or v["resp_rate"] > 28
        or v["spo2"] < 90
        or v["systolic_bp"] < 90
        or (age >= 70 and v["heart_rate"] > 115)
    )


def _case(rng: np.random.Generator) -> dict:
    complaint_index = rng.choice(len(COMPLAINTS), p=_COMPLAINT_P)
    phrasings, base, shift = COMPLAINTS[complaint_index]
    age = int(np.clip(rng.normal(48, 21), 1, 98))
    vitals = _vitals(rng, shift, age)
    pain = int(np.clip(rng.normal([2.5, 5.5, 7.0][base], 2.0), 0, 10))
    level = base
    if _danger_zone(vitals, age):
        level = min(2, level + 1)
    if vitals["temperature_c"] >= 39.5 and level == 0:
        level = 1
    if rng.random() < 0.06:  # judgement calls: one step either way
        level = int(np.clip(level + rng.choice([-1, 1]), 0, 2))
    words = [rng.choice(PREFIXES), rng.choice(phrasings), rng.choice(ONSETS), rng.choice(HISTORY)]
    complaint = ", ".join(w for w in words[1:] if w)
    complaint = f"{words[0]} {complaint}".strip()
    return {"complaint": complaint, "age": age, **vitals, "pain_score": pain, "acuity": LEVELS[level]}


# Complaints weighted so that, after vitals, roughly 45% non-urgent, 35% urgent, 20% emergent arrive.
_weights = np.array([{0: 1.45, 1: 1.15, 2: 0.55}[base] for _, base, _ in COMPLAINTS])
_COMPLAINT_P = _weights / _weights.sum()


def generate(n_rows: int = 800, seed: int = 11) -> pd.DataFrame:
    """`n_rows` distinct labeled triage cases in the pack's column names, reproducible from `seed`."""
    return distinct_cases(_case, n_rows, seed, id_column="visit_id", id_prefix="V")
