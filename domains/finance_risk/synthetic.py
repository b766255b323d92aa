"""Seeded generator of transaction-monitoring cases for the finance risk pack (rules documented in README.md).

A case is an analyst narrative plus structured fields. Cases come from typologies — ordinary activity, and the
patterns review teams look for: structuring just under the reporting threshold, rapid in-and-out movement,
high-risk corridors, activity that does not fit the customer's profile, round amounts, new accounts, scams and
account takeover. The label comes from a latent risk score that mixes what the narrative says with the fields,
then a few percent of labels are flipped to a neighbouring level, as reviewers disagree. Typos, abbreviations,
paraphrases and missing fields make sure that no single teacher is perfect. All phrases are our own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.synthesis import distinct_cases
from toolkit.data.text_noise import abbreviate, add_typo

CHANNELS = ["card_present", "card_not_present", "ach", "wire", "cash", "crypto_exchange"]
SEGMENTS = ["student", "retiree", "salaried", "small_business", "corporate"]
REPORTING_THRESHOLD = 10_000

# Each signal: (weight added to the risk score, phrasings). Positive raises risk, negative lowers it.
SIGNALS: dict[str, tuple[float, list[str]]] = {
    "structuring": (
        2.4,
        [
            "Third cash deposit this week, each just under the reporting threshold.",
            "Deposits of slightly less than 10,000 spread over several branches.",
            "Customer split the cash into several deposits below the reporting limit.",
        ],
    ),
    "threshold_question": (
        1.2,
        [
            "Customer asked the teller what amount triggers a report.",
            "Teller notes the customer asked about reporting limits.",
        ],
    ),
    "pass_through": (
        2.2,
        [
            "Funds left the account within an hour of arriving.",
            "Incoming wire was sent on to a third party the same day.",
            "Balance returns to near zero right after each credit.",
        ],
    ),
    "corridor": (
        1.6,
        [
            "Beneficiary bank sits in a jurisdiction with weak AML controls.",
            "Transfer routed through a high-risk corridor.",
            "Destination country is on the internal high-risk list.",
        ],
    ),
    "profile_mismatch": (
        2.0,
        [
            "Amount is far above what the stated occupation supports.",
            "Activity does not match the customer's profile.",
            "Turnover is many times the declared income.",
        ],
    ),
    "round_amounts": (0.9, ["Series of round-figure transfers.", "Payments in exact round amounts."]),
    "new_account_burst": (
        1.4,
        ["Account opened recently and already moving large sums.", "Heavy activity on a newly opened account."],
    ),
    "scam": (
        2.6,
        [
            "Customer said a caller told them to move money to a safe account.",
            "Customer believes they are paying for an investment with guaranteed returns.",
            "Customer was asked by an online contact to send the money urgently.",
        ],
    ),
    "takeover": (
        2.4,
        [
            "Password and phone number changed just before the payment.",
            "Beneficiary added minutes before the transfer from an unseen device.",
            "Login from a new device in another country, then a new payee.",
        ],
    ),
    "sanctions_hit": (
        2.8,
        [
            "Beneficiary name partially matches a sanctions list entry.",
            "Screening returned a possible sanctions match on the counterparty.",
        ],
    ),
    "unusual_time": (0.5, ["Transaction at an unusual hour for this customer.", "Payment made at 3 a.m. local time."]),
    "first_of_kind": (0.7, ["First transaction of this type on the account.", "No history of such payments."]),
    "declined_before": (0.9, ["A similar payment was declined earlier the same day."]),
    "confirmed": (-1.5, ["Customer confirmed the payment by phone.", "Customer called in and confirmed the transfer."]),
    "recurring": (
        -1.6,
        ["Recurring payment with the same amount every month.", "Standing order, unchanged for a year."],
    ),
    "payroll": (-1.8, ["Salary deposit from a known employer.", "Regular payroll credit."]),
    "travel_notice": (-1.1, ["Matches a travel notice the customer filed last week."]),
    "known_counterparty": (
        -1.4,
        ["Counterparty has been paid regularly for several years.", "Long-standing supplier relationship."],
    ),
    "invoice": (-1.2, ["Supporting invoice was provided and checked.", "Documents on file explain the payment."]),
    "own_accounts": (
        -1.7,
        ["Transfer between two accounts owned by the customer.", "Move to the customer's own savings."],
    ),
}

# Typology -> (share, channel weights, signals it shows with their probability, field profile)
TYPOLOGIES: dict[str, dict] = {
    "ordinary": {
        "p": 0.50,
        "channels": [0.3, 0.3, 0.2, 0.06, 0.12, 0.02],
        "amount": (5.0, 1.2),
        "signals": {
            "confirmed": 0.3,
            "recurring": 0.35,
            "payroll": 0.2,
            "known_counterparty": 0.3,
            "invoice": 0.15,
            "own_accounts": 0.2,
            "travel_notice": 0.05,
            "unusual_time": 0.08,
            "first_of_kind": 0.1,
        },
        "age": 1800,
        "country": [0.88, 0.1, 0.02],
        "alerts": 0.15,
    },
    "grey": {
        "p": 0.16,
        "channels": [0.1, 0.25, 0.2, 0.2, 0.15, 0.1],
        "amount": (7.6, 1.0),
        "signals": {
            "first_of_kind": 0.5,
            "unusual_time": 0.35,
            "declined_before": 0.25,
            "round_amounts": 0.3,
            "confirmed": 0.3,
            "invoice": 0.2,
            "corridor": 0.15,
        },
        "age": 700,
        "country": [0.6, 0.3, 0.1],
        "alerts": 0.6,
    },
    "structuring": {
        "p": 0.06,
        "channels": [0, 0, 0, 0, 1, 0],
        "amount": "structuring",
        "signals": {"structuring": 0.85, "threshold_question": 0.35, "profile_mismatch": 0.25},
        "age": 600,
        "country": [0.8, 0.15, 0.05],
        "alerts": 1.2,
    },
    "pass_through": {
        "p": 0.06,
        "channels": [0, 0, 0.25, 0.6, 0, 0.15],
        "amount": (9.0, 0.8),
        "signals": {"pass_through": 0.85, "corridor": 0.35, "round_amounts": 0.3},
        "age": 300,
        "country": [0.35, 0.3, 0.35],
        "alerts": 1.0,
    },
    "profile_mismatch": {
        "p": 0.06,
        "channels": [0, 0.1, 0.2, 0.45, 0.1, 0.15],
        "amount": (9.3, 0.7),
        "signals": {"profile_mismatch": 0.8, "first_of_kind": 0.4, "corridor": 0.2},
        "age": 900,
        "country": [0.6, 0.25, 0.15],
        "alerts": 0.8,
        "segments": [0.6, 0.4, 0, 0, 0],
    },
    "new_account": {
        "p": 0.05,
        "channels": [0, 0.3, 0.2, 0.3, 0.1, 0.1],
        "amount": (8.4, 0.9),
        "signals": {"new_account_burst": 0.8, "round_amounts": 0.3, "pass_through": 0.2},
        "age": 12,
        "country": [0.55, 0.25, 0.2],
        "alerts": 0.3,
    },
    "scam": {
        "p": 0.05,
        "channels": [0, 0.1, 0.2, 0.6, 0, 0.1],
        "amount": (8.6, 0.9),
        "signals": {"scam": 0.85, "first_of_kind": 0.5, "confirmed": 0.2},
        "age": 2500,
        "country": [0.5, 0.3, 0.2],
        "alerts": 0.2,
        "segments": [0.05, 0.55, 0.35, 0.05, 0],
    },
    "takeover": {
        "p": 0.04,
        "channels": [0, 0.35, 0.2, 0.35, 0, 0.1],
        "amount": (8.0, 1.0),
        "signals": {"takeover": 0.9, "unusual_time": 0.4, "declined_before": 0.3},
        "age": 1500,
        "country": [0.5, 0.3, 0.2],
        "alerts": 0.3,
    },
    "sanctions": {
        "p": 0.02,
        "channels": [0, 0, 0.1, 0.9, 0, 0],
        "amount": (9.0, 1.0),
        "signals": {"sanctions_hit": 0.9, "corridor": 0.5},
        "age": 1200,
        "country": [0.2, 0.3, 0.5],
        "alerts": 0.5,
    },
}

OPENERS = {
    "card_present": ["Card present purchase at {merchant}.", "In-store chip payment at {merchant}."],
    "card_not_present": ["Online purchase at {merchant}.", "Card-not-present payment to {merchant}."],
    "ach": ["ACH transfer to {payee}.", "ACH credit received from {payee}."],
    "wire": ["Outgoing wire to {payee}.", "International wire to {payee}.", "Incoming wire from {payee}."],
    "cash": ["Cash deposit at a branch.", "Over-the-counter cash deposit.", "Cash withdrawal at an ATM."],
    "crypto_exchange": ["Transfer to a cryptocurrency exchange.", "Withdrawal from a crypto exchange."],
}
MERCHANTS = [
    "a grocery chain",
    "an electronics retailer",
    "a travel agency",
    "a gift card reseller",
    "a luxury watch dealer",
    "a pharmacy",
    "an online marketplace",
    "a gaming site",
    "a furniture store",
]
PAYEES = [
    "a long-standing supplier",
    "a newly added beneficiary",
    "the customer's own savings account",
    "a property management company",
    "an individual abroad",
    "a trading company",
    "a family member",
    "a car dealership",
    "a tuition office",
]
CLOSERS = [
    "",
    "",
    "",
    "Flagged by the monitoring rules.",
    "No prior disputes on file.",
    "Analyst review pending.",
    "Customer contacted by email.",
]
ABBREVIATIONS = {
    "customer": "cust",
    "account": "acct",
    "transaction": "txn",
    "beneficiary": "bene",
    "approximately": "approx",
    "international": "intl",
    "payment": "pmt",
}


def _amount(typology: dict, rng: np.random.Generator) -> float:
    if typology["amount"] == "structuring":
        return float(rng.integers(8_500, REPORTING_THRESHOLD))
    mu, sigma = typology["amount"]
    value = float(np.exp(rng.normal(mu, sigma)))
    if rng.random() < (0.35 if "round_amounts" in typology["signals"] else 0.08):
        return float(max(100, round(value, -3)))  # round figures
    return round(value, 2)


def _case(rng: np.random.Generator) -> dict:
    name = rng.choice(list(TYPOLOGIES), p=[t["p"] for t in TYPOLOGIES.values()])
    typology = TYPOLOGIES[name]
    channel = str(rng.choice(CHANNELS, p=typology["channels"]))
    amount = _amount(typology, rng)
    account_age_days = int(min(9000, rng.exponential(typology["age"])) + 1)
    country = str(rng.choice(["low", "medium", "high"], p=typology["country"]))
    prior_alerts = int(rng.poisson(typology["alerts"]))
    segment = str(rng.choice(SEGMENTS, p=typology.get("segments", [0.1, 0.12, 0.5, 0.2, 0.08])))

    shown = [s for s, p in typology["signals"].items() if rng.random() < p]
    rng.shuffle(shown)
    opener = str(rng.choice(OPENERS[channel])).format(merchant=rng.choice(MERCHANTS), payee=rng.choice(PAYEES))
    sentences = [opener, *[str(rng.choice(SIGNALS[s][1])) for s in shown], str(rng.choice(CLOSERS))]
    narrative = " ".join(s for s in sentences if s)

    score = sum(SIGNALS[s][0] for s in shown)
    score += 0.8 * max(0.0, np.log10(amount) - 3.0)
    score += 1.1 if account_age_days < 30 else 0.4 if account_age_days < 180 else 0.0
    score += {"low": 0.0, "medium": 0.5, "high": 1.3}[country]
    score += {"wire": 0.4, "crypto_exchange": 0.6, "cash": 0.3}.get(channel, 0.0)
    score += 1.2 if segment in ("student", "retiree") and amount > 20_000 else 0.0
    score += 0.9 if channel == "cash" and 8_500 <= amount < REPORTING_THRESHOLD else 0.0
    score += 0.4 * min(prior_alerts, 4) + rng.normal(0.0, 0.5)
    level = 2 if score >= 3.9 else 1 if score >= 1.1 else 0
    if rng.random() < 0.04:  # reviewers disagree: one level either way
        level = int(np.clip(level + rng.choice([-1, 1]), 0, 2))

    if rng.random() < 0.25:
        narrative = abbreviate(narrative, ABBREVIATIONS, rng)
    if rng.random() < 0.08:
        narrative = add_typo(narrative, rng)
    return {
        "narrative": narrative,
        "amount": amount,
        "channel": channel,
        "account_age_days": account_age_days,
        "country_risk": country if rng.random() > 0.02 else None,
        "prior_alerts": prior_alerts if rng.random() > 0.03 else None,
        "customer_segment": segment,
        "risk": ["low", "medium", "high"][level],
    }


def generate(n_rows: int = 2400, seed: int = 7) -> pd.DataFrame:
    """`n_rows` distinct labeled cases in the pack's column names, reproducible from `seed`."""
    frame = distinct_cases(_case, n_rows, seed, id_column="case_id", id_prefix="C")
    return frame.astype({"prior_alerts": "Int64"})
