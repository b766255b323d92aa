"""Teacher kinds, ensemble methods and compression variants are registered by name: a new one is one new module
(here, this test module) and the existing paths build it; unknown names are refused with the allowed ones."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from toolkit.compress.variants import COMPRESSION_VARIANTS, VariantJob, register_variant, variant_plan
from toolkit.config import TeacherSpec, apply_overrides, validate_pack_config
from toolkit.distill.fit import Split
from toolkit.errors import ConfigError
from toolkit.metrics.baselines import baseline_names
from toolkit.packs import load_pack
from toolkit.pipeline import RunRequest, run
from toolkit.registry import ENSEMBLE_METHODS, TEACHER_KINDS, Registry, teacher_trait
from toolkit.teachers.base import BaseTeacher, build_teacher, register_teacher
from toolkit.teachers.ensemble import EnsembleInputs, EnsembleRule, fit_ensemble_rules, register_ensemble

from .conftest import REPO_ROOT, tiny_overrides

LABELS = ["low", "medium", "high"]


class KeywordVoteTeacher(BaseTeacher):
    """A new kind, defined here only: one vote per label keyword found in the text, plus one. Registered by the
    `keyword_votes` fixture, as `@register_teacher("keyword_votes")` would, but only for the tests that use it (the
    registry is global: other tests list the built-in kinds)."""

    cheap = True  # a keyword count fits at once: refitted per fold, in the cascade's cheap tier

    def __init__(
        self, name: str, label_names: list[str], seed: int, max_length: int, keywords: dict | None = None
    ) -> None:
        super().__init__(name, label_names, seed, max_length)
        self.keywords = keywords or {}

    def fit(self, train: Split, validation: Split, work_dir: Path) -> None:
        """Nothing to learn: the keywords are the model."""

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        votes = np.ones((len(texts), len(self.label_names)))
        for i, text in enumerate(texts):
            for k, label in enumerate(self.label_names):
                votes[i, k] += sum(word in text.lower() for word in self.keywords.get(label, []))
        return votes / votes.sum(axis=1, keepdims=True)

    def fingerprint(self) -> str:
        return json.dumps(self.keywords, sort_keys=True)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "teacher.json").write_text(json.dumps(self.keywords))

    def load(self, folder: Path) -> None:
        self.keywords = json.loads((folder / "teacher.json").read_text())


@pytest.fixture()
def keyword_votes() -> Iterator[type[KeywordVoteTeacher]]:
    with TEACHER_KINDS.scope():
        yield register_teacher("keyword_votes")(KeywordVoteTeacher)


class MostSureRule(EnsembleRule):
    """A new ensemble method, defined here only: per sample, the answer of the most confident teacher."""

    @classmethod
    def fit(cls, inputs: EnsembleInputs) -> MostSureRule:
        return cls()

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        stacked = np.stack(probabilities)  # (T, n, C)
        return stacked[stacked.max(axis=2).argmax(axis=0), np.arange(stacked.shape[1])]


@pytest.fixture()
def most_sure() -> Iterator[type[MostSureRule]]:
    with ENSEMBLE_METHODS.scope():
        yield register_ensemble("most_sure", role="the most confident teacher")(MostSureRule)


KEYWORDS = {"high": ["reporting threshold", "sanctions", "safe account"], "low": ["salary", "standing order"]}


def finance_dict() -> dict:
    return yaml.safe_load((REPO_ROOT / "domains" / "finance_risk" / "pack.yaml").read_text())


def test_a_kind_registered_in_its_own_module_is_a_valid_config_kind(keyword_votes) -> None:
    data = finance_dict()
    data["teachers"].append({"name": "votes", "kind": "keyword_votes", "options": {"keywords": KEYWORDS}})
    config = validate_pack_config(data, "pack.yaml")
    assert [t.kind for t in config.teachers][-1] == "keyword_votes"
    assert TEACHER_KINDS.names()[-1] == "keyword_votes"


def test_build_teacher_builds_a_registered_kind_with_its_options(keyword_votes) -> None:
    spec = TeacherSpec(name="votes", kind="keyword_votes", options={"keywords": KEYWORDS})
    teacher = build_teacher(spec, LABELS, seed=0, max_length=64, pack=load_pack("finance_risk"))
    assert isinstance(teacher, KeywordVoteTeacher) and teacher.kind == "keyword_votes"
    probs = teacher.predict_proba(["salary deposit", "just under the reporting threshold, sanctions hit"])
    np.testing.assert_allclose(probs, [[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])


def test_unknown_kind_lists_the_registered_ones_with_the_key(keyword_votes) -> None:
    data = finance_dict()
    data["teachers"][0]["kind"] = "keyword_vote"  # a typo
    allowed = "'sklearn', 'tabular', 'hf', 'llm', 'openai', 'rules' or 'keyword_votes'"
    with pytest.raises(ConfigError, match=rf"key `teachers.0.kind`: Input should be {allowed} \(got 'keyword_vote'\)"):
        validate_pack_config(data, "pack.yaml")


def test_a_kind_registered_in_a_scope_is_forgotten_after_it() -> None:
    with TEACHER_KINDS.scope():
        register_teacher("keyword_votes")(KeywordVoteTeacher)
        assert "keyword_votes" in TEACHER_KINDS.names()
    assert "keyword_votes" not in TEACHER_KINDS.names()
    with pytest.raises(ConfigError, match="teachers.<n>.kind: 'keyword_votes' is not a teacher kind"):
        TEACHER_KINDS.get("keyword_votes")


def test_a_built_in_kind_name_cannot_be_taken_by_another_class() -> None:
    with pytest.raises(ValueError, match="teacher kind 'sklearn' is built in"):

        @register_teacher("sklearn")
        class Impostor(BaseTeacher):
            pass


def test_only_teacher_classes_are_registered() -> None:
    with pytest.raises(TypeError, match="must subclass toolkit.teachers.base.BaseTeacher"):
        register_teacher("plain")(dict)


def test_a_registered_ensemble_method_is_fitted_with_the_built_in_ones(most_sure) -> None:
    sure, unsure = np.array([[0.9, 0.1], [0.5, 0.5]]), np.array([[0.4, 0.6], [0.2, 0.8]])
    rules = fit_ensemble_rules([sure, unsure], [0, 1], cheap=[0], sharpness=2.0)
    assert list(rules) == ["mean", "weighted", "confidence", "routing", "most_sure"]
    np.testing.assert_allclose(rules["most_sure"].combine([sure, unsure]), [[0.9, 0.1], [0.2, 0.8]])


def test_unknown_ensemble_method_lists_the_allowed_ones() -> None:
    data = finance_dict()
    data["ensemble"] = {"method": "median"}
    allowed = "'mean', 'weighted', 'confidence' or 'routing'"
    with pytest.raises(ConfigError, match=rf"key `ensemble.method`: Input should be {allowed} \(got 'median'\)"):
        validate_pack_config(data, "pack.yaml")


BUILT_IN_PLAN = ["student_fp32", "pruned_fp32", "torch_int8", "onnx_fp32", "onnx_int8", "onnx_int4"]


def test_the_built_in_variant_plan_follows_the_compress_section() -> None:
    config = load_pack("finance_risk").config
    assert [(name, source) for name, _, source in variant_plan(config)] == [
        ("student_fp32", "student"),
        ("pruned_fp32", "student_fp32"),
        ("torch_int8", "pruned_fp32"),
        ("onnx_fp32", "pruned_fp32"),
        ("onnx_int8", "onnx_fp32"),
        ("onnx_int4", "onnx_fp32"),
    ]
    unpruned = apply_overrides(config, {"compress.prune.enabled": False})
    assert [(name, source) for name, _, source in variant_plan(unpruned)][:3] == [
        ("student_fp32", "student"),
        ("torch_int8", "student_fp32"),
        ("onnx_fp32", "student_fp32"),
    ]
    assert variant_plan(config, teacher="tfidf_lr")[0][::2] == ("tfidf_lr", "teacher")


def copy_source(job: VariantJob) -> dict:
    """A new variant, defined here only: its source's files, as they are."""
    return {"copied_from": job.source}


def test_a_registered_variant_is_planned_after_its_source_when_enabled() -> None:
    config = load_pack("finance_risk").config
    with COMPRESSION_VARIANTS.scope():
        register_variant("onnx_copy", "a copy of the ONNX export", source="onnx_fp32")(copy_source)
        register_variant("never", "never built", source="student", enabled=lambda c: False)(copy_source)
        plan = variant_plan(config)
        assert [name for name, _, _ in plan] == [*BUILT_IN_PLAN, "onnx_copy"]
        assert plan[-1] == ("onnx_copy", "a copy of the ONNX export", "onnx_fp32")
        no_onnx = apply_overrides(config, {"compress.onnx": False})
        assert "onnx_copy" not in [name for name, _, _ in variant_plan(no_onnx)]  # its source is not built
    assert [name for name, _, _ in variant_plan(config)] == BUILT_IN_PLAN


def test_a_registry_names_its_key_for_an_unknown_entry() -> None:
    registry: Registry[type] = Registry("widget", "widgets.kind")
    registry.register("round")(int)
    with pytest.raises(ConfigError, match=r"widgets.kind: 'square' is not a widget; allowed: 'round'"):
        registry.get("square")


def test_a_run_fits_and_learns_from_a_registered_kind_and_ensemble_method(
    keyword_votes, most_sure, tmp_path: Path, tiny_model_dir: Path, finance_sample: Path
) -> None:
    overrides = tiny_overrides(tiny_model_dir)
    overrides["teachers"] = [
        {"name": "tfidf_lr", "kind": "sklearn"},
        {"name": "votes", "kind": "keyword_votes", "options": {"keywords": KEYWORDS}},
    ]
    overrides["ensemble.method"] = "most_sure"
    result = run(
        RunRequest(domain="finance_risk", data=finance_sample, out=tmp_path / "run", fast=True, overrides=overrides),
        log=lambda _: None,
    )
    summary = json.loads((tmp_path / "run" / "teachers" / "summary.json").read_text())
    assert summary["votes"]["kind"] == "keyword_votes"
    assert json.loads((tmp_path / "run" / "teachers" / "votes" / "teacher.json").read_text()) == KEYWORDS
    assert set(summary["ensemble_weighted"]["weights"]) == {"tfidf_lr", "votes"}
    assert summary["student_learns_from"] == "ensemble_most_sure"
    assert {"votes", "ensemble_most_sure"} <= set(result.metrics["models"])


def test_a_kind_declares_its_traits_and_the_stages_read_them(keyword_votes, monkeypatch) -> None:
    cheap = {kind: teacher_trait(kind, "cheap") for kind in ("sklearn", "tabular", "rules", "hf", "keyword_votes")}
    assert cheap == {"sklearn": True, "tabular": True, "rules": True, "hf": False, "keyword_votes": True}
    shippable = {kind: teacher_trait(kind, "shippable") for kind in ("sklearn", "rules", "openai", "keyword_votes")}
    assert shippable == {"sklearn": True, "rules": False, "openai": False, "keyword_votes": False}
    assert teacher_trait("openai", "paid") and not teacher_trait("keyword_votes", "paid")
    data = finance_dict()
    data["teachers"].append({"name": "votes", "kind": "keyword_votes", "options": {"keywords": KEYWORDS}})
    config = validate_pack_config(data, "pack.yaml")
    models = {name: None for name in ["finetune_baseline", "votes", *(t.name for t in config.teachers)]}
    baselines = [t.name for t in config.teachers if t.kind in ("sklearn", "tabular")]
    assert baseline_names(config, models) == ["finetune_baseline", *baselines]  # votes is not shippable
    monkeypatch.setattr(keyword_votes, "shippable", True)
    assert baseline_names(config, models) == ["finetune_baseline", *baselines, "votes"]
