"""Each config key re-runs exactly the stages that read it: a key missing from a stage's fingerprint would let a
changed config reuse stale outputs (as `critical_label` once did for the checkpoint distill selects)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.config import PackConfig
from toolkit.packs import load_pack
from toolkit.pipeline import STAGES, RunRequest, _stage_fingerprints, prepare_context

TRIAGE_DATA = Path("data_templates/medical_triage/example_labeled.csv")

# What re-runs when the first stage that reads a key does: the stages after it hold its fingerprint. Evaluate and
# compress both follow distill and neither follows the other; "policy" keys are read by both.
RERUNS = {
    "data": set(STAGES),
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
    "hooks": "the hooks' code is fingerprinted by digest, per stage that calls it",
}


def _fingerprints(tmp_path: Path, overrides: dict, fast: bool = False) -> dict[str, str]:
    request = RunRequest(domain="medical_triage", data=TRIAGE_DATA, out=tmp_path, fast=fast, overrides=overrides)
    return _stage_fingerprints(prepare_context(request, log=lambda _: None))


# triage-rate targets need ordinal labels: the `ordinal` flip starts from a base without them
NO_TRIAGE_RATES = {"targets": [{"metric": "macro_f1", "at_least": 0.5}], "deferral.targets": []}


def test_every_config_section_is_assigned_to_the_stages_that_read_it() -> None:
    sections = {key.split(".")[0] for key in FLIPS} | set(NOT_READ_BY_STAGES)
    assert sections == set(PackConfig.model_fields), "a config section no stage's fingerprint was checked against"


@pytest.mark.parametrize("key", sorted(FLIPS))
def test_flipping_a_key_reruns_exactly_the_stages_that_read_it(tmp_path: Path, key: str) -> None:
    value, readers = FLIPS[key]
    start = NO_TRIAGE_RATES if key == "ordinal" else {}
    base = _fingerprints(tmp_path / "base", start)
    flipped = _fingerprints(tmp_path / "flipped", {**start, key: value})
    changed = {stage for stage in STAGES if base[stage] != flipped[stage]}
    assert changed == RERUNS[readers], f"{key}: re-runs {sorted(changed)}"


def test_fast_reductions_reach_the_stages_they_shorten(tmp_path: Path) -> None:
    base = _fingerprints(tmp_path / "base", {}, fast=True)
    fewer_epochs = _fingerprints(tmp_path / "epochs", {"fast.student_epochs": 1.0}, fast=True)
    assert {s for s in STAGES if base[s] != fewer_epochs[s]} == {"distill", "evaluate", "compress"}
    fewer_rows = _fingerprints(tmp_path / "rows", {"fast.max_train_rows": 100}, fast=True)
    assert {s for s in STAGES if base[s] != fewer_rows[s]} == set(STAGES)


def test_the_triage_pack_feeds_filter_samples_to_distill() -> None:
    """`_expected` assumes the filter stage feeds distill; the flips above use a pack where it does."""
    config = load_pack("medical_triage").config
    assert config.filter.enabled and config.filter.use_for_distill
