"""The cascade's result in the domain's words, for logs, reports and notebooks: "the model answers 72% of
patients; among them 1.5% are under-triaged; the other 28% go straight to a nurse"."""

from __future__ import annotations

from toolkit.config import PackConfig


def deferral_sentence(report: dict, config: PackConfig) -> str:
    """One sentence from a `deferral` report (metrics.json) on the test split.

    >>> deferral_sentence(report, config)  # doctest: +SKIP
    'the model answers 72% of patients (95% interval 61%–80%); among them 1.5% are under-triaged; ...'
    """
    words, test = config.deferral.words, report["test"]
    coverage = test["coverage"]
    if test["answered"] == 0:
        return (
            f"the model answers no {words.cases}: no thresholds met the deferral targets on validation while "
            f"answering any, so every one goes to {words.person}"
        )
    interval = test["intervals"]["coverage"]
    parts = [
        f"the model answers {coverage:.0%} of {words.cases} (95% interval {interval['low']:.0%}–{interval['high']:.0%})"
    ]
    figures = test["figures"]
    if "under_triage_rate" in figures:
        parts.append(f"among them {figures['under_triage_rate']:.1%} are {words.under}")
    critical = config.critical_label
    if critical and f"recall[{critical}]" in figures:
        parts.append(
            f"{figures[f'recall[{critical}]']:.0%} of the {critical} {words.cases} it answers are called {critical}"
        )
    if test["ensemble_share"] > 0:
        parts.append(f"{test['ensemble_share']:.0%} of all {words.cases} needed the teacher ensemble")
    parts.append(f"the other {1 - coverage:.0%} go straight to {words.person}")
    return "; ".join(parts)
