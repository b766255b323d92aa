"""Every teacher kind, with tiny models built from configs or the local OpenAI-compatible test server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from toolkit.config import TeacherSpec
from toolkit.data.rendering import render_frame
from toolkit.data.splits import Split
from toolkit.data.validation import load_and_validate
from toolkit.errors import ConfigError
from toolkit.metrics.classification import classification_metrics
from toolkit.packs import load_pack
from toolkit.teachers.base import build_teacher
from toolkit.teachers.openai_api import TeacherAPIError

from .conftest import REPO_ROOT
from .openai_server import FakeOpenAI

LABELS = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def finance_splits() -> tuple[Split, Split]:
    pack = load_pack("finance_risk")
    frame, _, config = load_and_validate(REPO_ROOT / pack.config.example_data, pack.config)
    texts = render_frame(frame, config.columns.fields, config.render)
    labels = frame["label"].map({name: i for i, name in enumerate(LABELS)}).to_numpy()
    rows = frame[[f.name for f in config.columns.fields]]
    return (
        Split(texts[:1800], labels[:1800], rows=rows.iloc[:1800].reset_index(drop=True)),
        Split(texts[1800:], labels[1800:], rows=rows.iloc[1800:].reset_index(drop=True)),
    )


@pytest.fixture(scope="module")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    from toolkit.transformer_models import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = load_tokenizer("minilm")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=512)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_tabular_teacher_learns_from_the_structured_fields(finance_splits, tmp_path) -> None:
    train, held_out = finance_splits
    teacher = build_teacher(TeacherSpec(name="gbm", kind="tabular"), LABELS, 0, 128, pack=load_pack("finance_risk"))
    teacher.fit(train, held_out, tmp_path)
    # texts are blanked: the fields alone must carry the signal
    probs = teacher.predict_proba([""] * len(held_out.texts), rows=held_out.rows)
    assert classification_metrics(held_out.labels, probs, LABELS)["macro_f1"] > 0.55
    with pytest.raises(ConfigError, match="reads structured fields, and none were given"):
        teacher.predict_proba(held_out.texts[:2])


def test_tabular_teacher_leaves_out_fields_the_data_never_has(tmp_path) -> None:
    pack = load_pack("medical_triage")
    teacher = build_teacher(TeacherSpec(name="gbm", kind="tabular"), pack.config.label_names, 0, 64, pack=pack)
    rows = pd.DataFrame({"heart_rate": [80.0 + i for i in range(30)]})  # no age, no other vital at all
    teacher.fit(Split([""] * 30, [i % 3 for i in range(30)], rows=rows), Split([], []), tmp_path)
    assert teacher.options["fields_used"] == ["heart_rate"]
    empty = build_teacher(TeacherSpec(name="gbm", kind="tabular"), pack.config.label_names, 0, 64, pack=pack)
    empty.fit(Split([""] * 30, [0] * 20 + [1] * 10, rows=pd.DataFrame(index=range(30))), Split([], []), tmp_path)
    np.testing.assert_allclose(empty.predict_proba([""], rows=rows.iloc[:1]), [[2 / 3, 1 / 3, 0.0]])


def test_sklearn_teacher_saves_and_loads_to_the_same_outputs(finance_splits, tmp_path) -> None:
    train, held_out = finance_splits
    teacher = build_teacher(TeacherSpec(name="tfidf", kind="sklearn"), LABELS, 0, 128)
    teacher.fit(train, held_out, tmp_path)
    teacher.save(tmp_path / "saved")
    restored = build_teacher(TeacherSpec(name="tfidf", kind="sklearn"), LABELS, 0, 128)
    restored.load(tmp_path / "saved")
    np.testing.assert_allclose(restored.predict_proba(held_out.texts[:20]), teacher.predict_proba(held_out.texts[:20]))
    assert restored.fingerprint() == teacher.fingerprint()


def test_hf_teacher_skips_fine_tuning_when_the_checkpoint_already_has_the_labels(tiny_model_dir, tmp_path) -> None:
    from transformers import AutoModelForSequenceClassification

    from toolkit.transformer_models import load_tokenizer

    ready = tmp_path / "ready"
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=3, id2label=dict(enumerate(LABELS))
    )
    model.save_pretrained(ready)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(ready)
    teacher = build_teacher(TeacherSpec(name="ready", kind="hf", options={"model": str(ready)}), LABELS, 0, 32)
    assert teacher.already_trained()
    before = [p.clone() for p in teacher.model.parameters()]
    teacher.fit(Split(["a case"] * 8, [0, 1, 2, 0, 1, 2, 0, 1]), Split(["b"] * 3, [0, 1, 2]), tmp_path / "w")
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.model.parameters(), strict=True))


def test_hf_teacher_returns_hidden_states_and_attentions(tiny_model_dir) -> None:
    teacher = build_teacher(TeacherSpec(name="t", kind="hf", options={"model": str(tiny_model_dir)}), LABELS, 0, 32)
    out = teacher.features(["short case", "a slightly longer case text"])
    assert len(out["hidden_states"]) == 3  # embeddings + 2 layers
    assert out["hidden_states"][-1].shape[-1] == 32
    assert len(out["attentions"]) == 2 and out["attentions"][0].shape[1] == 2  # 2 heads
    assert out["logits"].shape == (2, 3)


def test_llm_teacher_scores_each_label_by_its_log_likelihood(tiny_gpt2_dir) -> None:
    from toolkit.teachers.llm import build_prompt

    teacher = build_teacher(TeacherSpec(name="llm", kind="llm", options={"model": str(tiny_gpt2_dir)}), LABELS, 0, 128)
    probs = teacher.predict_proba(["cash deposit under the threshold", "salary", "wire to a new payee"])
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    # the same figure by hand for the first text: sum of log p(verbalizer token | prefix)
    tok, model = teacher.tokenizer, teacher.model
    prompt = tok(
        build_prompt(
            teacher.options["instruction"],
            teacher.verbalizers,
            teacher.descriptions,
            [],
            "cash deposit under the threshold",
        ),
        add_special_tokens=False,
    )["input_ids"]
    scores = []
    for verbalizer in teacher.verbalizers:
        ids = tok(" " + verbalizer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0], -1)
        scores.append(sum(float(logp[len(prompt) + j - 1, t]) for j, t in enumerate(ids)))
    expected = np.exp(np.array(scores) - max(scores))
    np.testing.assert_allclose(probs[0], expected / expected.sum(), rtol=1e-4)


def test_llm_teacher_few_shot_takes_examples_per_label(tiny_gpt2_dir, tmp_path) -> None:
    spec = TeacherSpec(name="llm", kind="llm", options={"model": str(tiny_gpt2_dir), "shots": 2})
    teacher = build_teacher(spec, LABELS, 0, 128)
    teacher.fit(Split([f"case {i}" for i in range(30)], [i % 3 for i in range(30)]), Split([], []), tmp_path)
    assert sorted(label for _, label in teacher.examples) == ["high", "high", "low", "low", "medium", "medium"]


def openai_teacher(server: FakeOpenAI, **options):
    spec = TeacherSpec(
        name="api",
        kind="openai",
        options={"base_url": server.base_url, "requests_per_second": 0, "backoff_seconds": 0.01, **options},
    )
    return build_teacher(spec, LABELS, 0, 128)


def test_openai_teacher_reads_logprobs() -> None:
    with FakeOpenAI() as server:
        probs = openai_teacher(server).predict_proba(["wire to a new payee", "refund request", "salary"])
    np.testing.assert_allclose(probs[0], np.array([0.2, 1e-6, 0.7]) / (0.9 + 1e-6), rtol=1e-5)
    assert probs.argmax(axis=1).tolist() == [2, 1, 0]
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 10


def test_openai_teacher_falls_back_to_votes_without_logprobs() -> None:
    with FakeOpenAI(logprobs=False) as server:
        teacher = openai_teacher(server, votes=7)
        probs = teacher.predict_proba(["wire to a new payee", "salary"])
    assert teacher.logprobs_supported is False
    assert probs.argmax(axis=1).tolist() == [2, 0]
    assert all(p > 0 for p in probs.ravel())  # smoothed votes: never a hard zero
    assert server.requests[-1]["n"] == 7 and server.requests[-1]["temperature"] == 1.0


def test_openai_teacher_retries_rate_limits() -> None:
    with FakeOpenAI(fail_first=2) as server:
        probs = openai_teacher(server).predict_proba(["wire"])
    assert len(server.requests) == 3 and probs.argmax() == 2


def test_openai_teacher_counts_spend_and_stops_at_the_budget(tmp_path) -> None:
    with FakeOpenAI() as server:
        teacher = openai_teacher(server, price_prompt_per_1k=1.0, price_completion_per_1k=2.0, max_spend=0.25)
        teacher.predict_proba(["wire"])
        first = teacher.spend.to_dict()
        assert first["requests"] == 1 and first["spent"] == pytest.approx(
            first["prompt_tokens"] / 1000 + first["completion_tokens"] / 1000 * 2
        )
        with pytest.raises(TeacherAPIError, match="spend budget reached"):
            teacher.predict_proba(["salary"] * 10)
    teacher.save(tmp_path)
    assert json.loads((tmp_path / "spend.json").read_text())["budget"] == 0.25


def test_openai_key_is_sent_but_never_stored(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("MY_TEST_KEY", "sk-test-secret")
    with FakeOpenAI(key="sk-test-secret") as server:
        teacher = openai_teacher(server, api_key_env="MY_TEST_KEY")
        teacher.predict_proba(["wire"])
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret"
    teacher.save(tmp_path)
    assert "sk-test-secret" not in (tmp_path / "spend.json").read_text() + teacher.fingerprint()


def test_openai_teacher_reports_a_wrong_key_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", "wrong")
    with FakeOpenAI(key="right") as server, pytest.raises(TeacherAPIError, match="answered 401") as caught:
        openai_teacher(server, api_key_env="MY_TEST_KEY").predict_proba(["wire"])
    assert "$MY_TEST_KEY" in caught.value.hint


def test_openai_teacher_refuses_remote_endpoints_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="is not on this machine"):
        build_teacher(
            TeacherSpec(name="api", kind="openai", options={"base_url": "https://api.example.com/v1"}), LABELS, 0, 128
        )
