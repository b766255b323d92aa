"""Seeded generator of emergency-department triage cases for the medical triage pack (rules in README.md).

A case is a chief complaint (with onset and risk factors) plus triage vitals. The acuity follows the logic of
the Emergency Severity Index and Manchester discriminators: life-threatening presentations are emergent; danger-
zone vitals (HR > 130, RR > 28, SpO2 < 90, SBP < 90) or a high-risk situation (head injury on anticoagulants,
chest pain over 50, fever in the immunosuppressed, bleeding in pregnancy) raise the level; presentations that
need several resources are urgent; minor ones with normal vitals are non-urgent. Then a few percent of levels
move one step, as nurses' judgement differs. Typos, abbreviations, paraphrases and missing vitals make sure
that no single teacher is perfect. Phrases are our own; none come from patient records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.synthesis import distinct_cases
from toolkit.data.text_noise import abbreviate, add_typo

LEVELS = ["non_urgent", "urgent", "emergent"]

# name: (phrasings, base level 0..2, vitals profile 0 calm .. 2 deranged, pain mean, tags used by the rules)
COMPLAINTS: dict[str, tuple[list[str], int, int, float, set[str]]] = {
    "cardiac_chest_pain": (
        [
            "crushing chest pain radiating to the left arm",
            "chest pressure with sweating and nausea",
            "chest tightness spreading to the jaw",
            "central chest pain, clammy",
        ],
        2,
        1,
        7,
        {"chest"},
    ),
    "stroke": (
        [
            "sudden weakness of the right arm and slurred speech",
            "facial droop and confusion",
            "cannot lift left arm, speech garbled",
            "sudden loss of vision in one eye and numb face",
        ],
        2,
        1,
        2,
        set(),
    ),
    "respiratory_distress": (
        [
            "severe shortness of breath, cannot finish sentences",
            "struggling to breathe, lips blue",
            "short of breath at rest, using neck muscles to breathe",
        ],
        2,
        2,
        5,
        set(),
    ),
    "anaphylaxis": (
        [
            "throat tightness and lip swelling after eating peanuts",
            "hives and wheezing after a bee sting",
            "tongue swelling after a new medication",
        ],
        2,
        2,
        4,
        set(),
    ),
    "unresponsive": (
        [
            "found unresponsive on the floor by family",
            "not waking up properly after a fall",
            "very drowsy, responds only to pain",
        ],
        2,
        2,
        0,
        set(),
    ),
    "gi_bleed": (
        [
            "vomiting bright red blood",
            "large amount of blood in the stool and dizzy",
            "black tarry stools and fainted at home",
        ],
        2,
        1,
        4,
        set(),
    ),
    "seizure": (
        ["seizure lasting more than five minutes", "repeated seizures without waking in between"],
        2,
        1,
        1,
        set(),
    ),
    "major_trauma": (
        ["high speed car crash, belly pain", "fell from a ladder, hit head, vomiting", "stab wound to the abdomen"],
        2,
        2,
        8,
        {"head"},
    ),
    "suicidal": (["suicidal thoughts with a plan", "took an overdose of sleeping pills an hour ago"], 2, 0, 1, set()),
    "sepsis_like": (
        ["fever, confusion and feels faint", "shaking chills and very weak, not making sense"],
        1,
        2,
        4,
        {"fever"},
    ),
    "abdominal_pain": (
        [
            "right lower abdominal pain since yesterday with nausea",
            "abdominal pain and vomiting, cannot keep fluids down",
            "belly pain worse on movement, no appetite",
        ],
        1,
        1,
        6,
        set(),
    ),
    "pneumonia_like": (
        ["fever and productive cough", "cough with green sputum and chills", "fever, cough, feels weak"],
        1,
        1,
        3,
        {"fever"},
    ),
    "fracture": (
        [
            "fell on outstretched hand, wrist swollen and deformed",
            "twisted knee, cannot bear weight",
            "possible broken ankle after falling down stairs",
        ],
        1,
        0,
        7,
        set(),
    ),
    "laceration": (
        [
            "deep cut on the hand from a kitchen knife, bleeding controlled",
            "laceration on the forehead, needs stitches",
        ],
        1,
        0,
        4,
        set(),
    ),
    "asthma": (
        ["asthma flare, inhaler helping only a little", "wheezing since this morning, used inhaler four times"],
        1,
        1,
        3,
        set(),
    ),
    "renal_colic": (
        ["severe flank pain coming in waves, history of kidney stones", "pain in the side radiating to the groin"],
        1,
        0,
        8,
        set(),
    ),
    "headache_red_flags": (
        ["worst headache in weeks with vomiting", "headache with fever and stiff neck"],
        1,
        1,
        7,
        {"fever"},
    ),
    "pyelonephritis": (
        ["burning urination with fever and back pain", "urinary symptoms and shaking chills"],
        1,
        1,
        5,
        {"fever"},
    ),
    "minor_head_injury": (
        ["bumped head on a cupboard, no loss of consciousness", "hit head playing football, mild headache"],
        0,
        0,
        3,
        {"head"},
    ),
    "pleuritic_pain": (
        ["chest pain when breathing in after a cold", "chest wall pain after lifting boxes"],
        0,
        0,
        4,
        {"chest"},
    ),
    "vaginal_bleeding": (["vaginal bleeding", "spotting and mild cramps"], 0, 0, 3, {"bleeding"}),
    "sore_throat": (["sore throat", "scratchy throat and mild cough", "throat pain when swallowing"], 0, 0, 3, set()),
    "rash": (["itchy rash on the forearm", "red patches on the legs", "mild rash after a new soap"], 0, 0, 1, set()),
    "refill": (
        [
            "needs a refill of blood pressure medication",
            "ran out of inhaler, no symptoms now",
            "prescription refill request",
        ],
        0,
        0,
        0,
        set(),
    ),
    "sprain": (["twisted ankle, walking on it", "sprained wrist playing tennis, moves fine"], 0, 0, 3, set()),
    "cold": (["runny nose and congestion", "cold symptoms", "sneezing and blocked nose"], 0, 0, 1, set()),
    "ear_pain": (["ear pain", "earache and muffled hearing"], 0, 0, 4, set()),
    "back_pain": (["chronic lower back pain, same as usual", "back ache after gardening"], 0, 0, 5, set()),
    "bite": (["insect bite on the leg, a bit swollen", "splinter in the finger"], 0, 0, 2, set()),
    "wound_check": (["here for suture removal", "wound check after minor surgery"], 0, 0, 1, set()),
}
ONSETS = [
    "",
    "since this morning",
    "for 2 days",
    "for a week",
    "started an hour ago",
    "on and off for 3 days",
    "since last night",
    "sudden onset 30 minutes ago",
]
PREFIXES = ["", "", "pt states", "per EMS:", "patient reports", "walk-in:", "brought by family:", "c/o"]
RISK_FACTORS = [
    "",
    "",
    "",
    "",
    "hx of diabetes",
    "hx of hypertension",
    "on blood thinners",
    "hx of COPD",
    "pregnant",
    "on chemotherapy",
    "no significant history",
    "hx of heart attack",
]
ABBREVIATIONS = {
    "shortness of breath": "SOB",
    "chest pain": "CP",
    "history of": "hx of",
    "abdominal": "abd",
    "nausea and vomiting": "N/V",
    "patient": "pt",
    "complains of": "c/o",
    "minutes": "min",
}


def _vitals(rng: np.random.Generator, profile: int, age: int) -> dict:
    # profile 0: normal vitals; 1: some derangement; 2: often in the danger zone.
    heart_rate = rng.normal([82, 98, 120][profile], [12, 16, 20][profile]) + (25 if age < 5 else 0)
    resp_rate = rng.normal([16, 19, 25][profile], [2, 3, 5][profile]) + (8 if age < 5 else 0)
    spo2 = 100 - rng.gamma([1.5, 2.5, 5.0][profile], [1.0, 1.3, 1.9][profile])
    systolic = rng.normal([128, 124, 110][profile], [14, 20, 28][profile]) + 0.25 * (age - 45)
    temperature = rng.normal([36.8, 37.5, 37.6][profile], [0.3, 0.8, 1.0][profile])
    return {
        "heart_rate": int(np.clip(heart_rate, 35, 200)),
        "resp_rate": int(np.clip(resp_rate, 8, 50)),
        "spo2": int(np.clip(spo2, 70, 100)),
        "systolic_bp": int(np.clip(systolic, 55, 230)),
        "temperature_c": float(np.round(np.clip(temperature, 34.5, 41.5), 1)),
    }


def danger_zone(v: dict, age: int) -> bool:
    """ESI danger-zone vitals (adult thresholds; tighter heart rate for the elderly)."""
    return (
        v["heart_rate"] > 130
        or v["resp_rate"] > 28
        or v["spo2"] < 90
        or v["systolic_bp"] < 90
        or (age >= 70 and v["heart_rate"] > 115)
    )


def _level(name: str, tags: set[str], base: int, vitals: dict, age: int, pain: int, risk: str) -> int:
    level = base
    if danger_zone(vitals, age):
        level = 2
    high_risk = (
        ("head" in tags and risk == "on blood thinners")
        or ("chest" in tags and age > 50 and risk in ("hx of heart attack", "hx of diabetes"))
        or ("fever" in tags and risk == "on chemotherapy")
        or ("bleeding" in tags and risk == "pregnant")
    )
    if high_risk:
        level = max(level, 2 if base >= 1 else 1) if name != "vaginal_bleeding" else 2
    if level == 0 and (pain >= 8 or vitals["temperature_c"] >= 39.5 or (age < 2 and vitals["temperature_c"] >= 38.0)):
        level = 1
    return level


def _case(rng: np.random.Generator) -> dict:
    name = str(rng.choice(list(COMPLAINTS), p=_COMPLAINT_P))
    phrasings, base, profile, pain_mean, tags = COMPLAINTS[name]
    age = int(np.clip(rng.normal(47, 23), 0, 99)) if rng.random() > 0.08 else int(rng.integers(0, 12))
    vitals = _vitals(rng, profile, age)
    pain = int(np.clip(rng.normal(pain_mean, 2.0), 0, 10))
    risk = str(rng.choice(RISK_FACTORS))
    level = _level(name, tags, base, vitals, age, pain, risk)
    if rng.random() < 0.05:  # judgement calls: one step either way
        level = int(np.clip(level + rng.choice([-1, 1]), 0, 2))

    parts = [str(rng.choice(phrasings)), str(rng.choice(ONSETS)), risk]
    complaint = ", ".join(p for p in parts if p)
    complaint = f"{rng.choice(PREFIXES)} {complaint}".strip()
    if rng.random() < 0.35:
        complaint = abbreviate(complaint, ABBREVIATIONS, rng)
    if rng.random() < 0.08:
        complaint = add_typo(complaint, rng)
    row: dict = {"complaint": complaint, "age": age, **vitals, "pain_score": pain}
    for key in ("heart_rate", "resp_rate", "spo2", "systolic_bp", "temperature_c"):
        if rng.random() < 0.05:  # vitals not taken at triage
            row[key] = None
    if rng.random() < 0.1:
        row["pain_score"] = None
    row["acuity"] = LEVELS[level]
    return row


# Complaints weighted so that, after vitals and risk factors, about 45% non-urgent, 33% urgent, 22% emergent.
_weights = np.array([{0: 1.5, 1: 1.25, 2: 0.45}[c[1]] for c in COMPLAINTS.values()])
_COMPLAINT_P = _weights / _weights.sum()


def generate(n_rows: int = 2400, seed: int = 11) -> pd.DataFrame:
    """`n_rows` distinct labeled triage cases in the pack's column names, reproducible from `seed`."""
    frame = distinct_cases(_case, n_rows, seed, id_column="visit_id", id_prefix="V")
    return frame.astype({k: "Int64" for k in ("heart_rate", "resp_rate", "spo2", "systolic_bp", "pain_score")})
