"""Seeded generator of realistic transaction-review cases for the finance risk pack.

Each case has an analyst narrative plus structured fields. The label comes from a latent risk score that mixes
what the narrative says (red flags, benign explanations) with the structured fields (amount, account age,
country risk, channel, prior alerts) and noise, the way a review team's decisions do: neither the text nor the
fields alone decide every case. All phrases are written for this project.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.synthesis import distinct_cases

CHANNELS = ["card_present", "card_not_present", "ach", "wire", "cash", "crypto_exchange"]
COUNTRY_RISK = ["low", "medium", "high"]

OPENERS = {
    "card_present": [
        "Card present purchase at {merchant}.",
        "Chip transaction at {merchant} in the customer's home city.",
        "In-store payment at {merchant}.",
    ],
    "card_not_present": [
        "Online purchase at {merchant}.",
        "Card-not-present payment to {merchant}.",
        "E-commerce transaction with {merchant}.",
    ],
    "ach": ["ACH transfer to {payee}.", "Outgoing ACH debit to {payee}.", "Batch ACH credit received from {payee}."],
    "wire": ["Outgoing wire to {payee}.", "International wire sent to {payee}.", "Incoming wire from {payee}."],
    "cash": ["Cash deposit at a branch.", "Cash withdrawal at an ATM.", "Over-the-counter cash deposit."],
    "crypto_exchange": [
        "Transfer to a cryptocurrency exchange.",
        "Purchase of digital assets through an exchange.",
        "Withdrawal from a crypto exchange into the account.",
    ],
}
MERCHANTS = [
    "a grocery chain",
    "an electronics retailer",
    "a travel agency",
    "a gift card reseller",
    "a fuel station",
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
    "a payroll provider",
    "an individual abroad",
    "a shell company",
    "a tuition office",
    "a car dealership",
    "a family member",
]

# (phrase, weight): positive weights raise the risk score, negative ones lower it.
RED_FLAGS = [
    ("Several deposits just under the reporting threshold on consecutive days.", 2.2),
    ("Customer could not explain the source of funds when asked.", 2.4),
    ("Beneficiary was added minutes before the transfer from a new device.", 2.3),
    ("Funds left the account within an hour of arriving.", 2.0),
    ("Login came from an IP address in a different country than usual.", 1.6),
    ("Customer reported being asked by a caller to move money to a safe account.", 2.6),
    ("Name of the beneficiary partially matches a sanctions list entry.", 2.8),
    ("Multiple cards were used at the same merchant within minutes.", 1.9),
    ("Password and phone number were changed just before the payment.", 2.4),
    ("Payment reference mentions an investment with guaranteed returns.", 2.1),
    ("Third parties deposited cash into the account from several branches.", 2.0),
    ("Account shows rapid in-and-out movement inconsistent with the stated occupation.", 2.2),
]
CONCERNS = [
    ("Amount is well above the customer's usual spending.", 1.1),
    ("First transaction of this type on the account.", 0.9),
    ("Merchant category is often linked to chargebacks.", 0.8),
    ("Customer recently updated the mailing address.", 0.7),
    ("Transaction happened at an unusual hour for this customer.", 0.6),
    ("Counterparty bank is in a jurisdiction with weak controls.", 1.2),
    ("Customer asked the teller about limits before depositing.", 1.0),
    ("A similar payment was declined earlier the same day.", 1.0),
    ("Device fingerprint has not been seen on this account before.", 0.9),
]
BENIGN = [
    ("Customer confirmed the payment by phone.", -1.4),
    ("Recurring payment with the same amount every month.", -1.6),
    ("Salary deposit from a known employer.", -1.8),
    ("Matches a travel notice the customer filed last week.", -1.2),
    ("Counterparty has been paid regularly for several years.", -1.5),
    ("Supporting invoice was provided and checked.", -1.3),
    ("Customer is a long-standing business client with seasonal peaks.", -1.0),
    ("Transfer is between two accounts owned by the customer.", -1.7),
]
CLOSERS = [
    "",
    "",
    "Analyst note: review pending.",
    "Flagged by the monitoring rule set.",
    "No prior disputes on file.",
    "Case opened by the automated monitor.",
    "Customer contacted by email.",
]

ACTORS = {  # how often each kind of actor shows each kind of signal
    "legit": {"p": 0.58, "red": 0.03, "concern": 0.25, "benign": 0.85},
    "grey": {"p": 0.27, "red": 0.25, "concern": 0.75, "benign": 0.35},
    "illicit": {"p": 0.15, "red": 0.85, "concern": 0.55, "benign": 0.08},
}


def _pick(rng: np.random.Generator, items: list, k: int) -> list:
    return [items[i] for i in rng.choice(len(items), size=min(k, len(items)), replace=False)]


def _case(rng: np.random.Generator) -> dict:
    actor = rng.choice(list(ACTORS), p=[a["p"] for a in ACTORS.values()])
    profile = ACTORS[actor]
    channel_p = {
        "legit": [0.3, 0.3, 0.2, 0.08, 0.1, 0.02],
        "grey": [0.12, 0.25, 0.15, 0.2, 0.18, 0.1],
        "illicit": [0.05, 0.2, 0.1, 0.3, 0.15, 0.2],
    }[actor]
    channel = rng.choice(CHANNELS, p=channel_p)
    amount_mu = {"legit": 5.3, "grey": 7.3, "illicit": 8.4}[actor]
    amount = float(np.round(np.exp(rng.normal(amount_mu, 1.1)), 2))
    age_scale = {"legit": 1600, "grey": 500, "illicit": 160}[actor]
    account_age_days = int(min(9000, rng.exponential(age_scale)) + 1)
    country = rng.choice(
        COUNTRY_RISK, p={"legit": [0.85, 0.12, 0.03], "grey": [0.55, 0.3, 0.15], "illicit": [0.35, 0.3, 0.35]}[actor]
    )
    prior_alerts = int(rng.poisson({"legit": 0.15, "grey": 0.8, "illicit": 1.6}[actor]))

    signals: list[tuple[str, float]] = []
    if rng.random() < profile["red"]:
        signals += _pick(rng, RED_FLAGS, 1 + int(rng.random() < 0.45))
    if rng.random() < profile["concern"]:
        signals += _pick(rng, CONCERNS, 1 + int(rng.random() < 0.3))
    if rng.random() < profile["benign"]:
        signals += _pick(rng, BENIGN, 1)
    rng.shuffle(signals)

    opener = rng.choice(OPENERS[channel]).format(merchant=rng.choice(MERCHANTS), payee=rng.choice(PAYEES))
    narrative = " ".join(part for part in [opener, *[s for s, _ in signals], rng.choice(CLOSERS)] if part)

    score = sum(w for _, w in signals)
    score += 0.9 * max(0.0, np.log10(amount) - 3.0)  # every 10x above 1,000 USD
    score += 1.2 if account_age_days < 30 else 0.4 if account_age_days < 180 else 0.0
    score += {"low": 0.0, "medium": 0.5, "high": 1.3}[country]
    score += {"wire": 0.5, "crypto_exchange": 0.6, "cash": 0.3}.get(channel, 0.0)
    score += 0.45 * min(prior_alerts, 4) + rng.normal(0.0, 0.45)
    label = "high" if score >= 3.3 else "medium" if score >= 1.0 else "low"
    return {
        "narrative": narrative,
        "amount": amount,
        "channel": channel,
        "account_age_days": account_age_days,
        "country_risk": country,
        "prior_alerts": prior_alerts,
        "risk": label,
    }


def generate(n_rows: int = 800, seed: int = 7) -> pd.DataFrame:
    """`n_rows` distinct labeled cases in the pack's column names, reproducible from `seed`."""
    return distinct_cases(_case, n_rows, seed, id_column="case_id", id_prefix="C")
