"""The TRL-backed parts on tiny models: the reward model learns a clear preference, the generator is SFT-tuned and
PPO runs a few steps against a reward computed from decoded texts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.config import GeneratorSpec
from toolkit.filtering.generator import PPOReward, build_generator, decode, generate, query_ids, sft_rows, tidy
from toolkit.filtering.pairs import PreferencePair, split_pairs
from toolkit.filtering.reward import RewardModel
from toolkit.filtering.trl_backend import PPOSettings, TrainingSettings, ppo_tune, sft_train
from toolkit.transformer_models import load_tokenizer

FILLER = ["payment", "account", "branch", "customer", "transfer", "card", "online", "cash", "review", "monthly"]


def toy_pairs(n: int, seed: int) -> list[PreferencePair]:
    """The preferred text always says `confirmed`, the other `disputed`; the rest is random filler."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = list(rng.choice(FILLER, size=6))
        chosen = " ".join(words[:3] + ["confirmed"] + words[3:])
        rejected = " ".join(list(rng.choice(FILLER, size=3)) + ["disputed"] + words[3:])
        pairs.append(PreferencePair("low", chosen, rejected, "human"))
    return pairs


def test_reward_model_learns_a_clear_preference(tiny_model_dir, tmp_path):
    train, held_out = split_pairs(toy_pairs(240, seed=0), held_out=0.25, seed=0)
    prompts = {"low": "A case labeled low: routine"}
    model = RewardModel.build(str(tiny_model_dir), max_length=32)
    model.fit(train, prompts, TrainingSettings(3, 2e-3, 16, 32, seed=0), tmp_path / "rm")
    assert model.pairwise_accuracy(held_out, prompts) >= 0.9
    model.standardise_on([prompts["low"]] * len(train), [p.chosen for p in train])
    model.save(tmp_path / "saved")
    again = RewardModel.load(tmp_path / "saved")
    texts = [held_out[0].chosen, held_out[0].rejected]
    assert (again.centre, again.scale) == (model.centre, model.scale)
    two = [prompts["low"]] * 2
    np.testing.assert_allclose(again.raw_scores(two, texts), model.raw_scores(two, texts), atol=1e-4)


def test_tidy_restores_rendered_text_after_wordpiece_decoding():
    tokenizer = load_tokenizer("minilm")
    text = "Wire at 3 a.m. to the customer's new payee | amount 1,250.5 USD (large) | channel card_not_present"
    assert decode(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"]) == text.lower()
    assert tidy("spo2 88 % ( low )") == "spo2 88% (low)"


@pytest.fixture()
def tiny_generator(tiny_model_dir):
    spec = GeneratorSpec(layers=1, hidden=32, heads=2, max_length=48, response_length=10)
    return build_generator(spec, str(tiny_model_dir))


def test_sft_then_generate(tiny_generator, tmp_path):
    model, tokenizer = tiny_generator
    assert tokenizer.eos_token == "[SEP]" and model.config.vocab_size == len(tokenizer)
    texts = ["cash deposit confirmed by phone"] * 8 + ["wire to a new payee abroad"] * 8
    prompts = ["A case labeled low: routine"] * 8 + ["A case labeled high: escalate"] * 8
    ids, masks = sft_rows(tokenizer, prompts, texts, max_length=48)
    assert all(len(i) == len(m) and m[-1] == 1 and m[0] == 0 for i, m in zip(ids, masks, strict=True))
    log = sft_train(model, tokenizer, ids, masks, TrainingSettings(20, 5e-3, 8, 48, seed=0), tmp_path / "sft")
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert losses[-1] < losses[0]
    written = generate(model, tokenizer, ["A case labeled low: routine"] * 4, max_new_tokens=10, temperature=0.7)
    assert len(written) == 4 and all(isinstance(t, str) for t in written)


def test_reward_wrapper_hands_label_and_text_to_the_reward(tiny_generator):
    _, tokenizer = tiny_generator
    queries = {
        "low": query_ids(tokenizer, "A case labeled low: routine"),
        "high": query_ids(tokenizer, "A case labeled high: x"),
    }
    seen = []

    def reward(labels, texts):
        seen.extend(zip(labels, texts, strict=True))
        return np.array([len(t) for t in texts], dtype=float)

    response = tokenizer("wire abroad", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    pad = tokenizer.pad_token_id
    width = max(len(q) for q in queries.values()) + len(response)
    rows = [[pad] * (width - len(q) - len(response)) + q + response for q in queries.values()]
    ids = torch.tensor(rows)
    module = PPOReward(tokenizer, queries, reward)
    hidden = getattr(module, module.base_model_prefix)(input_ids=ids, attention_mask=(ids != pad).long())
    scores = module.score(hidden.hidden_states[-1])
    assert seen == [("low", "wire abroad"), ("high", "wire abroad")]
    assert scores.shape == (2, width, 1) and float(scores[0, -1, 0]) == len("wire abroad")


def test_ppo_runs_a_few_steps_on_cpu(tiny_generator, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    model, tokenizer = tiny_generator
    model.save_pretrained(tmp_path / "sft")
    tokenizer.save_pretrained(tmp_path / "sft")
    queries = {"low": query_ids(tokenizer, "A case labeled low: routine")}
    steps = []
    log = ppo_tune(
        model,
        AutoModelForCausalLM.from_pretrained(tmp_path / "sft"),
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "sft", num_labels=1),
        PPOReward(tokenizer, queries, lambda labels, texts: np.array([t.count("cash") for t in texts], dtype=float)),
        tokenizer,
        [queries["low"]] * 8,
        PPOSettings(
            episodes=12,
            batch_size=4,
            ppo_epochs=1,
            learning_rate=1e-4,
            kl_coef=0.05,
            response_length=8,
            temperature=1.0,
            seed=0,
        ),
        tmp_path / "ppo",
        on_step=lambda step, logs: steps.append(step),
    )
    assert steps == [1, 2, 3] and len(log) == 3
    assert all(np.isfinite(entry["objective/scores"]) and np.isfinite(entry["objective/kl"]) for entry in log)
