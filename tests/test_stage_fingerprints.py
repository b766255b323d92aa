"""Each config key re-runs exactly the stages that read it: a key missing from a stage's fingerprint would let a
changed config reuse stale outputs (as `critical_label` once did for the checkpoint distill selects). The flips go
through the driver: a run folder whose every stage finished under the base config is asked what it would re-run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.compress import stage as compress_stage
from toolkit.config import PackConfig
from toolkit.packs import load_pack
from toolkit.pipeline import STAGE_NAMES, STAGES, RunRequest, prepare_context, stage_action, stage_fingerprints
from toolkit.run_context import RunContext, open_run

TRIAGE_DATA = Path("data_templates/medical_triage/example_labeled.csv")

# What re-runs when the first stage that reads a key does: the stages after it hold its fingerprint. Evaluate and
# compress both follow distill and neither follows the other; "policy" keys are read by both.
RERUNS = {
    "data": set(STAGE_NAMES),
    "teachers": {"teachers", "filter", "distill", "evaluate", "compress"},
    "filter": {"filter", "distill", "evaluate", "compress"},
    "distill": {"distill", "evaluate", "compress"},
    "evaluate": {"evaluate"},
    "compress": {"compress"},
    "policy": {"evaluate", "compress"},
}
# key -> (value it is flipped to, which stages read it)
FLIPS: dict[str, tuple[object, str]] = {
    "description": ("another description", "evaluate"),
    "labels": (
        [{"name": "non_urgent", "description": "x"}, {"name": "urgent"}, {"name": "emergent"}],
        "teachers",
    ),
    "ordinal": (False, "policy"),
    "critical_label": ("urgent", "distill"),
    "columns.text": ("chief_complaint", "data"),
    "input_map.drop_unlabeled": (True, "data"),
    "data_rules.max_text_chars": (999, "data"),
    "render.fields_first_above": (50, "data"),
    "render.template": ("{fields} | {text}", "data"),
    "split.seed": (99, "data"),
    "split.validation": (0.2, "data"),
    "teachers": ([{"name": "tfidf_lr", "kind": "sklearn"}], "teachers"),
    "ensemble.method": ("mean", "teachers"),
    "student.max_length": (64, "teachers"),
    "student.model": ("other-model", "filter"),
    "student.lora.r": (4, "distill"),
    "distill.temperature": (3.0, "distill"),
    "distill.epochs": (2.0, "distill"),
    "distill.primary_metric": ("accuracy", "distill"),
    "recipe_search.budget": (1.0, "distill"),
    "recipe_search.budget_rows": (1_000, "distill"),
    "recipe_search.enabled": (False, "distill"),
    "filter.reward.agreement_pairs": (10, "filter"),
    "filter.generator.samples": (7, "filter"),
    "filter.selection.reward_floor_quantile": (0.3, "filter"),
    "filter.use_for_distill": (False, "distill"),
    "filter.label_issues.drop": (True, "distill"),
    "targets": ([{"metric": "macro_f1", "at_least": 0.5}], "policy"),
    "cost_matrix": ([[0, 1, 1], [1, 0, 1], [1, 1, 0]], "policy"),
    "deferral.enabled": (False, "policy"),
    "model_card.warning": ("another warning", "evaluate"),
    "compress.torch_int8": (False, "compress"),
    "compress.prune.budget": (0.25, "compress"),
}
NOT_READ_BY_STAGES = {
    "name": "a run folder holds one pack's runs; another name is refused",
    "example_data": "the data stage fingerprints the data file itself",
    "example_preferences": "the filter stage fingerprints the preference file itself",
    "example_unlabeled": "the filter stage fingerprints the pool file itself",
    "fast": "read only through --fast, which rewrites the sections above (tested below)",
    "cpu": "read only through toolkit/device_defaults.py, which rewrites training caps without a GPU (tested below)",
    "hooks": "the hooks' code is fingerprinted by digest, per stage that calls it",
}


def _context(run_dir: Path, overrides: dict, fast: bool = False) -> RunContext:
    request = RunRequest(domain="medical_triage", data=TRIAGE_DATA, out=run_dir, fast=fast, overrides=overrides)
    ctx = prepare_context(request, log=lambda _: None)
    ctx.fingerprints = stage_fingerprints(ctx)
    return ctx


def _fingerprints(run_dir: Path, overrides: dict, fast: bool = False) -> dict[str, str]:
    return _context(run_dir, overrides, fast).fingerprints


def _finished(run_dir: Path, overrides: dict) -> None:
    """A run folder whose manifest records every stage as finished under `overrides` (no stage actually runs)."""
    ctx = _context(run_dir, overrides)
    for name in STAGE_NAMES:
        ctx.manifest.record_stage(name, ctx.fingerprints[name], seconds=0.0)


def _would_run(run_dir: Path, overrides: dict) -> set[str]:
    ctx = _context(run_dir, overrides)
    return {stage.name for stage in STAGES if stage_action(ctx, stage) == "run"}


# triage-rate targets need ordinal labels: the `ordinal` flip starts from a base without them
NO_TRIAGE_RATES = {"targets": [{"metric": "macro_f1", "at_least": 0.5}], "deferral.targets": []}


def test_every_config_section_is_assigned_to_the_stages_that_read_it() -> None:
    sections = {key.split(".")[0] for key in FLIPS} | set(NOT_READ_BY_STAGES)
    assert sections == set(PackConfig.model_fields), "a config section no stage's fingerprint was checked against"


@pytest.mark.parametrize("key", sorted(FLIPS))
def test_flipping_a_key_reruns_exactly_the_stages_that_read_it(tmp_path: Path, key: str) -> None:
    value, readers = FLIPS[key]
    start = NO_TRIAGE_RATES if key == "ordinal" else {}
    _finished(tmp_path, start)
    assert _would_run(tmp_path, start) == set(), "an unchanged config re-runs nothing"
    assert _would_run(tmp_path, {**start, key: value}) == RERUNS[readers], key


def test_a_stage_the_config_turns_off_is_neither_run_nor_reused(tmp_path: Path) -> None:
    _finished(tmp_path, {})
    ctx = _context(tmp_path, {"filter.enabled": False, "compress.enabled": False})
    actions = {stage.name: stage_action(ctx, stage) for stage in STAGES}
    assert actions == {
        "data": "reuse",
        "teachers": "reuse",
        "filter": "off",
        "distill": "run",  # it no longer trains on the filter's samples
        "evaluate": "run",
        "compress": "off",
    }


def test_compress_alone_keys_the_stage_as_the_full_run_does(tmp_path: Path) -> None:
    """`compress_run` reads distill's key from the manifest: right after a run it finds nothing to redo."""
    _finished(tmp_path, {})
    ctx = open_run(tmp_path, log=lambda _: None)
    upstream = {"distill": ctx.manifest.data["stages"]["distill"]["fingerprint"]}
    ctx.fingerprints = stage_fingerprints(ctx, [compress_stage.STAGE], upstream)
    assert stage_action(ctx, compress_stage.STAGE) == "reuse"
    budget = open_run(tmp_path, {"compress.prune.budget": 0.25}, log=lambda _: None)
    budget.fingerprints = stage_fingerprints(budget, [compress_stage.STAGE], upstream)
    assert stage_action(budget, compress_stage.STAGE) == "run"


def test_fast_reductions_reach_the_stages_they_shorten(tmp_path: Path) -> None:
    base = _fingerprints(tmp_path / "base", {}, fast=True)
    fewer_epochs = _fingerprints(tmp_path / "epochs", {"fast.student_epochs": 1.0}, fast=True)
    assert {s for s in STAGE_NAMES if base[s] != fewer_epochs[s]} == {"distill", "evaluate", "compress"}
    fewer_rows = _fingerprints(tmp_path / "rows", {"fast.max_train_rows": 100}, fast=True)
    assert {s for s in STAGE_NAMES if base[s] != fewer_rows[s]} == set(STAGE_NAMES)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's training caps apply only on a machine without a GPU")
def test_cpu_training_caps_reach_the_stages_they_shorten(tmp_path: Path) -> None:
    base = _fingerprints(tmp_path / "base", {})
    lower = _fingerprints(tmp_path / "lower", {"cpu.max_training_samples": 1_000})
    assert {s for s in STAGE_NAMES if base[s] != lower[s]} == RERUNS["teachers"]  # the MiniLM teacher trains less


def test_the_triage_pack_feeds_filter_samples_to_distill() -> None:
    """`_expected` assumes the filter stage feeds distill; the flips above use a pack where it does."""
    config = load_pack("medical_triage").config
    assert config.filter.enabled and config.filter.use_for_distill
