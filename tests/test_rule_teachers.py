"""Each pack's domain rules work as a teacher: calibrated probabilities, alone or inside the ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit.config import TeacherSpec
from toolkit.data.rendering import render_frame
from toolkit.data.splits import Split
from toolkit.data.validation import load_and_validate
from toolkit.errors import ConfigError
from toolkit.metrics.classification import classification_metrics
from toolkit.packs import load_pack
from toolkit.teachers.base import build_teacher
from toolkit.teachers.ensemble import average_probabilities

from .conftest import REPO_ROOT


def rendered_split(pack_name: str) -> tuple[Split, Split, list[str]]:
    pack = load_pack(pack_name)
    frame, _, config = load_and_validate(REPO_ROOT / pack.config.example_data, pack.config)
    texts = render_frame(frame, config.columns.fields, config.render)
    labels = frame["label"].map({name: i for i, name in enumerate(config.label_names)}).to_numpy()
    return Split(texts[:1600], labels[:1600]), Split(texts[1600:], labels[1600:]), config.label_names


@pytest.mark.parametrize("pack_name", ["finance_risk", "medical_triage"])
def test_rules_beat_the_majority_class_by_far(pack_name: str, tmp_path) -> None:
    train, held_out, labels = rendered_split(pack_name)
    teacher = build_teacher(
        TeacherSpec(name="rules", kind="rules"), labels, seed=0, max_length=128, pack=load_pack(pack_name)
    )
    teacher.fit(train, held_out, tmp_path)
    probs = teacher.predict_proba(held_out.texts)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    majority = pd.Series(train.labels).value_counts().idxmax()
    majority_f1 = classification_metrics(
        held_out.labels, np.eye(len(labels))[[majority] * len(held_out.labels)], labels
    )["macro_f1"]
    assert classification_metrics(held_out.labels, probs, labels)["macro_f1"] > majority_f1 + 0.35


def test_calibration_is_fitted_on_training_labels(tmp_path) -> None:
    train, held_out, labels = rendered_split("medical_triage")
    teacher = build_teacher(TeacherSpec(name="rules", kind="rules"), labels, 0, 128, pack=load_pack("medical_triage"))
    before = teacher.fingerprint()
    teacher.fit(train, held_out, tmp_path)
    assert teacher.calibration["classes"] == [0, 1, 2] and teacher.fingerprint() != before
    teacher.save(tmp_path / "saved")
    restored = build_teacher(TeacherSpec(name="rules", kind="rules"), labels, 0, 128, pack=load_pack("medical_triage"))
    restored.load(tmp_path / "saved")
    np.testing.assert_allclose(restored.predict_proba(held_out.texts[:5]), teacher.predict_proba(held_out.texts[:5]))


def test_triage_rules_read_danger_zone_vitals() -> None:
    score = load_pack("medical_triage").hook("rules")
    calm, deranged = score(["dizzy | HR 88 | SpO2 97%", "dizzy | HR 88 | SpO2 85% (low)"])
    assert deranged[2] - calm[2] == 3.0  # the emergent column gains the danger-zone points


def test_rules_inside_the_ensemble(tmp_path) -> None:
    train, held_out, labels = rendered_split("finance_risk")
    pack = load_pack("finance_risk")
    rules = build_teacher(TeacherSpec(name="rules", kind="rules"), labels, 0, 128, pack=pack)
    tfidf = build_teacher(TeacherSpec(name="tfidf", kind="sklearn"), labels, 0, 128)
    for teacher in (rules, tfidf):
        teacher.fit(train, held_out, tmp_path)
    mixed = average_probabilities([rules.predict_proba(held_out.texts), tfidf.predict_proba(held_out.texts)])
    assert mixed.shape == (len(held_out.texts), 3)
    assert classification_metrics(held_out.labels, mixed, labels)["macro_f1"] > 0.6


def test_rules_teacher_without_a_hook_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"teachers.r: kind `rules` needs a pack with a `rules` hook"):
        build_teacher(TeacherSpec(name="r", kind="rules"), ["a", "b"], 0, 128, pack=None)
