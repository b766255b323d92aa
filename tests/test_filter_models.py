"""The TRL-backed parts on tiny models: the reward model learns a clear preference, the generator is SFT-tuned and
PPO runs a few steps against a reward computed from decoded texts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.config import GeneratorSpec
from toolkit.filtering.generator import (
    PPOReward,
    build_generator,
    decode,
    generate,
    generate_within,
    generation_batch,
    query_ids,
    sft_rows,
    tidy,
)
from toolkit.filtering.pairs import PreferencePair, split_pairs
from toolkit.filtering.reward import RewardModel
from toolkit.filtering.trl_backend import GRPOSettings, PPOSettings, TrainingSettings, grpo_tune, ppo_tune, sft_train
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


def test_generation_stops_after_the_batch_that_passes_its_time_box(tiny_generator):
    model, tokenizer = tiny_generator
    prompts = ["A case labeled low: routine", "A case labeled high: escalate"] * 40  # 80 prompts: 3 CPU batches
    batch = generation_batch(model)
    boxed = generate_within(model, tokenizer, prompts, 4, 1.0, seconds=0.0, at_least=batch + 1)
    assert len(boxed) == 2 * batch  # past the box after the first batch, short of at_least: one batch more
    assert len(generate_within(model, tokenizer, prompts, 4, 1.0, seconds=None, at_least=1)) == len(prompts)


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


def test_reward_wrapper_scores_id_sequences_for_grpo(tiny_generator):
    _, tokenizer = tiny_generator
    queries = {"low": query_ids(tokenizer, "A case labeled low: routine"), "high": query_ids(tokenizer, "high: x")}
    module = PPOReward(
        tokenizer, queries, lambda labels, texts: np.array([len(lab + t) for lab, t in zip(labels, texts, strict=True)])
    )
    response = tokenizer("wire abroad", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id, 7, 7]
    scores = module.rewards([queries["low"] + response, queries["high"] + response])
    np.testing.assert_array_equal(scores, [len("low" + "wire abroad"), len("high" + "wire abroad")])


def test_grpo_runs_a_few_updates_on_cpu_with_ppo_log_keys(tiny_generator, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tokenizer = tiny_generator
    model.save_pretrained(tmp_path / "sft")
    queries = {"low": query_ids(tokenizer, "A case labeled low: routine"), "high": query_ids(tokenizer, "high: x")}
    seen_labels = set()

    def cash_count(labels, texts):
        seen_labels.update(labels)
        return np.array([t.count("cash") for t in texts], dtype=float)

    before = [p.detach().clone() for p in model.parameters()]
    steps = []
    log = grpo_tune(
        model,
        AutoModelForCausalLM.from_pretrained(tmp_path / "sft"),
        PPOReward(tokenizer, queries, cash_count),
        tokenizer,
        [queries["low"], queries["high"]] * 4,
        GRPOSettings(
            episodes=12,
            batch_size=4,
            ppo_epochs=1,
            learning_rate=1e-3,
            kl_coef=0.05,
            response_length=8,
            temperature=1.0,
            seed=0,
            generations=2,
        ),
        tmp_path / "grpo",
        on_step=lambda step, logs: steps.append(step),
    )
    assert steps == [1, 2, 3] and len(log) == 3 and seen_labels == {"low", "high"}
    # nothing here ever says "cash", and an 8-token response rarely ends: the reward is 0 or the -1 missing-eos penalty
    assert all(-1.0 <= entry["objective/scores"] <= 0.0 and np.isfinite(entry["objective/kl"]) for entry in log)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_grpo_needs_batches_of_whole_groups():
    assert GeneratorSpec(algorithm="grpo", ppo_batch_size=16, grpo_generations=4).algorithm == "grpo"
    with pytest.raises(ValueError, match=r"ppo_batch_size \(6\) must be a multiple of grpo_generations \(4\)"):
        GeneratorSpec(algorithm="grpo", ppo_batch_size=6, grpo_generations=4)
    assert GeneratorSpec(ppo_batch_size=6).algorithm == "ppo"  # PPO, the default, has no groups
