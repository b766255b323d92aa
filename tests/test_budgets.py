"""The filter stage's budget and the process's threads: sized from the data and set once."""

from __future__ import annotations

import time

import pytest
import torch
from threadpoolctl import threadpool_info
from transformers import TrainerControl, TrainerState

from toolkit.config import apply_overrides
from toolkit.device_defaults import for_device
from toolkit.distill.selection import scaled_epochs
from toolkit.filtering.budget import (
    STEP_SHARES,
    UNBOXED_SHARE,
    distill_work,
    filter_work,
    plan_filter,
    rest_of_run_work,
)
from toolkit.filtering.label_issues import refit_folds
from toolkit.filtering.trl_backend import TimeBox, _TimeUp
from toolkit.packs import load_pack
from toolkit.threads import apply_threads, usable_cores

TRIAGE = load_pack("medical_triage").config


def steps(plan) -> tuple[float, int, int, int]:
    g, r = plan.spec.generator, plan.spec.reward
    return g.sft_epochs, g.ppo_episodes, g.samples, r.agreement_pairs + r.generated_pairs


def heavy_filter(share: float):
    """A filter far larger than the rest of a small run, as on the real sets where it took most of the time."""
    return apply_overrides(
        TRIAGE,
        {
            "filter.budget_share": share,
            "filter.generator.ppo_episodes": 4000,
            "filter.generator.samples": 8000,
            "recipe_search.enabled": False,
        },
    )


def test_a_larger_budget_cut_gives_fewer_filter_steps() -> None:
    plans = [plan_filter(heavy_filter(share), train_rows=1_000) for share in (0.5, 0.25, 0.1)]
    scales = [p.scale for p in plans]
    assert scales == sorted(scales, reverse=True) and scales[-1] < 1.0
    for bigger, smaller in zip(plans, plans[1:], strict=False):
        assert all(a >= b for a, b in zip(steps(bigger), steps(smaller), strict=True))
        assert steps(bigger) != steps(smaller)
    ppo = plans[-1].spec.generator
    assert ppo.ppo_episodes % ppo.ppo_batch_size == 0 and ppo.ppo_episodes >= 2 * ppo.ppo_batch_size


def test_the_cut_fits_the_share_and_vanishes_on_large_data() -> None:
    config = heavy_filter(0.25)
    small = plan_filter(config, train_rows=1_000)
    kept = filter_work(small.spec, 1_000)
    assert kept / (kept + rest_of_run_work(config, 1_000)) == pytest.approx(0.25, abs=0.05)
    assert plan_filter(config, train_rows=200_000).scale == 1.0  # the rest of the run dwarfs the filter


def test_no_budget_keeps_the_configured_steps() -> None:
    config = heavy_filter(0.0)
    plan = plan_filter(config, train_rows=1_000, teachers_seconds=60.0)
    assert plan.scale == 1.0 and plan.spec == config.filter and plan.seconds is None


def test_the_time_budget_follows_this_machines_speed() -> None:
    config = heavy_filter(0.25)
    slow, fast = plan_filter(config, 1_000, teachers_seconds=100.0), plan_filter(config, 1_000, teachers_seconds=10.0)
    assert slow.seconds == pytest.approx(10 * fast.seconds, rel=0.01)
    spent = 0.0
    for step in STEP_SHARES:  # each step takes its whole box: together they leave the unboxed steps their part
        spent += slow.box(step, spent)
    assert spent == pytest.approx(slow.seconds * (1 - UNBOXED_SHARE), abs=0.3)
    no_transformer = apply_overrides(config, {"teachers": [{"name": "tfidf_lr", "kind": "sklearn"}]})
    assert plan_filter(no_transformer, 1_000, teachers_seconds=5.0).seconds is None  # nothing to calibrate on


def test_a_step_that_overran_shortens_the_steps_after_it() -> None:
    plan = plan_filter(heavy_filter(0.25), 1_000, teachers_seconds=100.0)
    sft = plan.box("generator_sft")
    on_time = plan.box("reward_model", spent=sft)
    assert plan.box("reward_model", spent=3 * sft) < on_time  # SFT overran: the reward model gets less
    on_time_ppo = plan.box("ppo", spent=sft + on_time)
    assert on_time_ppo == pytest.approx(plan.seconds * STEP_SHARES["ppo"], abs=0.3)
    late = plan.box("ppo", spent=plan.seconds * 0.6)  # the reward model's generated pairs overran its box
    assert 0 <= late < on_time_ppo
    assert plan.box("ppo", spent=plan.seconds * 2) == 0.0  # spent already: the minimum PPO updates, then stop


def test_label_issues_time_comes_off_the_trained_steps_boxes() -> None:
    plan = plan_filter(heavy_filter(0.25), 20_000, teachers_seconds=100.0)
    quick, slow = plan.after(spent=plan.seconds * 0.1), plan.after(spent=plan.seconds * 0.5)
    for step in STEP_SHARES:
        assert slow.box(step) < quick.box(step) < plan.box(step)
    assert plan.after(spent=plan.seconds * 2).seconds == 0.0  # over budget already: every step at its minimum
    unboxed = plan_filter(heavy_filter(0.0), 20_000, teachers_seconds=100.0)
    assert unboxed.after(spent=30.0) is unboxed and unboxed.box("ppo") is None


def test_large_data_trains_fewer_epochs_and_costs_grow_linearly() -> None:
    epochs = {rows: scaled_epochs(TRIAGE, rows, fast=False).distill.epochs for rows in (200, 2_000, 20_000, 200_000)}
    assert epochs[200] > epochs[2_000] >= epochs[20_000] > epochs[200_000] == 1.0
    rows_seen = {rows: rows * e for rows, e in epochs.items()}
    assert rows_seen[20_000] <= TRIAGE.recipe_search.max_samples < rows_seen[200_000]
    uncapped = apply_overrides(TRIAGE, {"recipe_search.max_samples": None})
    assert scaled_epochs(uncapped, 20_000, fast=False).distill.epochs == TRIAGE.distill.epochs
    assert rest_of_run_work(TRIAGE, 200_000) / rest_of_run_work(TRIAGE, 20_000) <= 10.5  # linear beyond the cap


def test_without_a_gpu_transformers_train_on_fewer_rows() -> None:
    cpu, gpu = for_device(TRIAGE, gpu=False), for_device(TRIAGE, gpu=True)
    assert gpu == TRIAGE
    cap = TRIAGE.cpu.max_training_samples
    assert cpu.recipe_search.max_samples == cap < TRIAGE.recipe_search.max_samples
    assert [t.options["max_samples"] for t in cpu.teachers if t.kind == "hf"] == [cap]
    epochs = scaled_epochs(cpu, 1_680, fast=False).distill.epochs  # 2,400 rows: 70% train
    assert epochs >= 1.0 and 1_680 * epochs <= cap < 1_680 * scaled_epochs(gpu, 1_680, fast=False).distill.epochs
    assert rest_of_run_work(cpu, 1_680) < rest_of_run_work(gpu, 1_680) / 2  # the filter's share shrinks with it
    uncapped = apply_overrides(TRIAGE, {"cpu.max_training_samples": None})
    assert for_device(uncapped, gpu=False) == uncapped


def test_label_issue_refits_train_on_bounded_rows_on_large_data() -> None:
    folds = {rows: refit_folds(5, rows, 40_000) for rows in (1_680, 14_000, 70_000, 500_000)}
    assert folds == {1_680: 5, 14_000: 3, 70_000: 2, 500_000: 2}  # two folds: every row still out of sample
    assert all((f - 1) * rows <= max(40_000, rows) for rows, f in folds.items())
    assert refit_folds(5, 70_000, None) == 5
    issues_only = apply_overrides(TRIAGE, {"filter.generator.samples": 0, "filter.generator.ppo_episodes": 1})
    per_row = {rows: filter_work(issues_only.filter, rows) / rows for rows in (1_680, 70_000)}
    assert per_row[70_000] < per_row[1_680]


def test_selection_trains_fewer_candidates_on_large_data() -> None:
    per_row = {rows: distill_work(TRIAGE, rows) / rows for rows in (2_000, 16_000, 70_000)}
    assert per_row[2_000] > per_row[16_000] > per_row[70_000]
    fixed = apply_overrides(TRIAGE, {"recipe_search.budget_rows": None})
    assert distill_work(fixed, 16_000) > distill_work(TRIAGE, 16_000)  # the budget as given: more candidates
    assert distill_work(fixed, 2_000) == distill_work(TRIAGE, 2_000)  # small data: the same selection


def test_a_time_box_stops_training_at_a_step_boundary() -> None:
    state, control = TrainerState(), TrainerControl()
    box = TimeBox(seconds=0.05, min_steps=2)
    state.global_step = 1
    time.sleep(0.06)
    assert not box.on_step_end(None, state, control).should_training_stop  # fewer than min_steps
    state.global_step = 2
    assert box.on_step_end(None, state, control).should_training_stop and box.stopped_at == 2
    with pytest.raises(_TimeUp):  # PPO's loop never reads should_training_stop
        TimeBox(seconds=0.0, hard=True).on_step_end(None, state, TrainerControl())


def test_threads_are_applied_to_every_pool_once() -> None:
    before = torch.get_num_threads()
    try:
        applied = apply_threads(1)
        assert applied["threads"] == 1 and applied["source"] == "--threads" and torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert apply_threads(1) == applied  # a second call with the same value changes nothing
    finally:
        apply_threads(before if before != usable_cores() else None)
