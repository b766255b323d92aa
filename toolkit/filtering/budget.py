"""The filter stage's budget: its steps sized so that it takes about `filter.budget_share` of the run's time.

The filter stage does a fixed amount of work (generator SFT, reward pairs, PPO episodes, generated candidates)
whatever the data's size, while teachers and distillation grow with it. Left as configured, it dominated small runs
(290 of 385 s on a 2,657-row set; over 6 minutes beside a 58 s run on a GPU, where token-by-token generation gains
little). Two limits hold it:

- counts: its work and the rest of the run's are estimated in one unit, a training pass of one row through a
  student-sized model, and the filter's counts are cut by one factor until it fits its share;
- time: the teachers stage, already run, gives this machine's seconds per unit, hence the rest of the run in seconds
  and the filter's budget in seconds. Label issues run first (their cost grows with the rows) and their measured time
  comes off it; SFT, reward model (its generated pairs included) and PPO each stop at their slice of what is left
  (at a step boundary), so that a step that overran shortens the ones after it.

On large data the rest of the run grows and the configured counts are kept. `budget_share: 0` runs the counts as
configured, with no time box (the same steps on every machine).

>>> plan = plan_filter(config, train_rows=1_000)  # doctest: +SKIP
>>> plan.scale, plan.spec.generator.ppo_episodes  # doctest: +SKIP
(0.31, 96)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from toolkit.config import MAX_TRAINING_SAMPLES, FilterSpec, PackConfig
from toolkit.distill.fit import capped_epochs
from toolkit.distill.selection import selection_budget
from toolkit.filtering.label_issues import refit_folds

# Cost of one unit of each kind of work, in row-passes of a student-sized model (forward + backward of one row).
# Rough, from the step times of CPU and GPU runs (BENCHMARKS.md); bench/scaling.py reports the share they give.
COSTS = {
    "sft_row_epoch": 0.25,  # the small GPT-2 generator on one training text
    "reward_pair_epoch": 2.0,  # chosen and rejected texts through the reward model (the student's encoder)
    "ppo_episode": 6.0,  # one generated response (up to 96 tokens) with PPO's policy and value updates on it
    "candidate": 1.5,  # generating one candidate, then its reward and the teachers' labels
    "oof_row": 0.05,  # a cheap teacher refitted once per fold, per training row
    "teacher_row_epoch": 1.0,  # a transformer teacher fine-tuned on one row
    "label_row": 0.3,  # one row labelled by a transformer (forward only)
    "student_row_epoch": 1.0,
}
MIN_PPO_BATCHES = 2
MIN_PAIRS = 64
MIN_SAMPLES = 64


# The filter's time budget. Label issues run first and their measured time comes off it (they grow with the rows: 46 s
# of a 92 s budget at 20,000 finance rows on the H200); what is left is shared among the boxed steps, in this order, and
# the rest (selection: the committee and reward model scoring the candidates, near-duplicate search, loading models).
# Generation took 17-22% of what was left on the H200, 15% on 2 CPU cores; selection 14-20%, 7%.
STEP_SHARES = {"generator_sft": 0.12, "reward_model": 0.23, "ppo": 0.27, "generation": 0.18}
UNBOXED_SHARE = 1 - sum(STEP_SHARES.values())


@dataclass(frozen=True)
class FilterPlan:
    spec: FilterSpec  # the filter config with its counts cut to the budget
    scale: float  # the factor applied (1.0: the configured counts fit)
    filter_work: float  # estimated, in row-passes, before the cut
    rest_work: float  # the rest of the run, same unit
    seconds: float | None = None  # the time budget; None: no time box (no transformer teacher to calibrate on)

    def after(self, spent: float) -> FilterPlan:
        """The plan for what is left once `spent` seconds went to the steps run first (label issues).

        >>> FilterPlan(None, 1.0, 0.0, 0.0, seconds=100.0).after(spent=40.0).seconds
        60.0
        """
        return self if self.seconds is None else replace(self, seconds=round(max(0.0, self.seconds - spent), 1))

    def box(self, step: str, spent: float = 0.0) -> float | None:
        """The time box of step `step` once the boxed steps before it took `spent` seconds: what is left of their part
        of the budget, shared between `step` and the steps after it, so that a step that overran its box shortens
        the next ones.

        >>> plan = FilterPlan(None, 1.0, 0.0, 0.0, seconds=100.0)
        >>> plan.box("generator_sft"), plan.box("ppo", spent=45.0)
        (12.0, 21.0)
        """
        if self.seconds is None:
            return None
        order = list(STEP_SHARES)
        later = sum(STEP_SHARES[s] for s in order[order.index(step) :])
        left = max(0.0, self.seconds * (1 - UNBOXED_SHARE) - spent)
        return round(left * STEP_SHARES[step] / later, 1)

    def describe(self) -> str:
        timed = f"; time budget {self.seconds:,.0f} s" if self.seconds is not None else ""
        if self.scale >= 1.0:
            return f"the configured filter steps fit its share of the run{timed}"
        g, r = self.spec.generator, self.spec.reward
        return (
            f"filter steps cut to {self.scale:.0%} of the configured work to stay near its share of the run: "
            f"{g.sft_epochs:g} SFT epochs, {r.agreement_pairs + r.generated_pairs} built reward pairs, "
            f"{g.ppo_episodes} PPO episodes, {g.samples} generated candidates{timed}"
        )


def distill_work(config: PackConfig, train_rows: int) -> float:
    """The student candidates' training, as recipe selection sizes it (at least `min_steps`, at most `max_epochs`)."""
    search, distill = config.recipe_search, config.distill
    epochs = sum(p.epochs for p in distill.phases) if distill.phases else distill.epochs
    steps_rows = search.min_steps * distill.batch_size if search.enabled else 0
    one = min(max(epochs * train_rows, steps_rows), search.max_epochs * train_rows)
    if search.max_samples:
        one = min(one, max(train_rows, search.max_samples))
    extra = math.floor(selection_budget(search, train_rows))  # candidates costing about the recipe's time each
    candidates = 1 + (1 + min(len(search.variants), extra) if search.enabled else 0)
    return candidates * one * COSTS["student_row_epoch"] / gpu_speedup(distill.batch_size, distill.gpu_batch_size)


def gpu_speedup(batch_size: int, gpu_batch_size: int | None) -> float:
    """How much cheaper a training row-pass is at the GPU batch: measured on the H200, about sqrt(64/16)."""
    if gpu_batch_size and gpu_batch_size > batch_size and torch.cuda.is_available():
        return math.sqrt(gpu_batch_size / batch_size)
    return 1.0


def _all_rows(config: PackConfig, train_rows: int) -> float:
    return train_rows / max(1e-9, 1 - config.split.validation - config.split.test)


def teachers_work(config: PackConfig, train_rows: int) -> float:
    """The transformer teachers' fine-tuning and labelling (the scikit-learn ones cost next to nothing)."""
    work = 0.0
    for teacher in config.teachers:
        if teacher.kind == "hf":
            options = teacher.options
            epochs = capped_epochs(
                float(options.get("epochs", 4)), train_rows, options.get("max_samples", MAX_TRAINING_SAMPLES)
            )
            speedup = gpu_speedup(options.get("batch_size", 16), options.get("gpu_batch_size", 64))
            work += (
                epochs * train_rows * COSTS["teacher_row_epoch"] / speedup
                + _all_rows(config, train_rows) * COSTS["label_row"]
            )
    return work


def rest_of_run_work(config: PackConfig, train_rows: int) -> float:
    """Teachers, distillation, evaluation and compression, in row-passes."""
    labelling = 2 * _all_rows(config, train_rows) * COSTS["label_row"]
    return teachers_work(config, train_rows) + distill_work(config, train_rows) + labelling


def filter_work(spec: FilterSpec, train_rows: int, human_pairs: int = 0) -> float:
    g, r, issues = spec.generator, spec.reward, spec.label_issues
    pairs = r.agreement_pairs + r.generated_pairs + human_pairs
    folds = refit_folds(issues.folds, train_rows, issues.max_refit_rows)
    return (
        capped_epochs(g.sft_epochs, train_rows, MAX_TRAINING_SAMPLES) * train_rows * COSTS["sft_row_epoch"]
        + r.epochs * pairs * COSTS["reward_pair_epoch"]
        + g.ppo_episodes * COSTS["ppo_episode"]
        + g.samples * COSTS["candidate"]
        + (folds * train_rows * COSTS["oof_row"] if issues.enabled else 0.0)
    )


def plan_filter(
    config: PackConfig, train_rows: int, teachers_seconds: float | None = None, human_pairs: int = 0
) -> FilterPlan:
    """The filter config cut so that its estimated work is `budget_share` of the run's (0: the counts as given),
    and, when `teachers_seconds` (the teachers stage's time) calibrates this machine, its time budget."""
    spec, share = config.filter, config.filter.budget_share
    work = filter_work(spec, train_rows, human_pairs)
    rest = rest_of_run_work(config, train_rows)
    if share <= 0 or work <= 0:
        return FilterPlan(spec, 1.0, work, rest)
    calibration = teachers_work(config, train_rows)
    seconds = None
    if teachers_seconds and calibration > 0:
        seconds = round(share / (1 - share) * rest * teachers_seconds / calibration, 1)
    scale = min(1.0, share / (1 - share) * rest / work)
    if scale >= 1.0:
        return FilterPlan(spec, 1.0, work, rest, seconds)
    g, r = spec.generator, spec.reward
    batch = g.ppo_batch_size
    generator = g.model_copy(
        update={
            "sft_epochs": max(1.0, round(g.sft_epochs * scale, 1)),
            "ppo_episodes": max(MIN_PPO_BATCHES * batch, round(g.ppo_episodes * scale / batch) * batch),
            "samples": max(min(g.samples, MIN_SAMPLES), round(g.samples * scale)),
        }
    )
    reward = r.model_copy(
        update={
            "agreement_pairs": max(min(r.agreement_pairs, MIN_PAIRS), round(r.agreement_pairs * scale)),
            "generated_pairs": max(min(r.generated_pairs, MIN_PAIRS // 2), round(r.generated_pairs * scale)),
        }
    )
    cut = spec.model_copy(update={"generator": generator, "reward": reward})
    return FilterPlan(cut, round(scale, 3), work, rest, seconds)
