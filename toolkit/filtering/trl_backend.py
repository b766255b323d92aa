"""Every use of TRL in the toolkit, behind four functions: reward-model training, SFT, PPO and GRPO.

TRL's PPO lives in `trl.experimental.ppo` in the 1.12 line and is gone from 1.13 on (pinned `trl>=1.12,<1.13`);
GRPO is TRL's maintained online-RL trainer. `ppo_tune` and `grpo_tune` take the same policy, reference, reward
and queries and return per-update logs under the same keys, which is all the rest of the toolkit relies on.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from toolkit.filtering.generator import PPOReward

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # TRL warns that its experimental namespace may change: we pin the version
    from trl import GRPOConfig, GRPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer
    from trl.experimental.ppo import PPOConfig, PPOTrainer


@contextmanager
def _quiet():
    """TRL / transformers deprecation notices and dataset-map progress bars say nothing to our users."""
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        if bars:
            datasets.enable_progress_bars()


ON_GPU = torch.cuda.is_available()
# TRL's configs default to bf16, which on a CPU means slow emulated autocast (and a model left patched with it)
COMMON = {
    "report_to": [],
    "save_strategy": "no",
    "disable_tqdm": True,
    "gradient_checkpointing": False,  # the default generator and reward model are small; memory is not the limit
    "bf16": ON_GPU,
    "use_cpu": not ON_GPU,
}


@dataclass(frozen=True)
class TrainingSettings:
    epochs: float
    learning_rate: float
    batch_size: int
    max_length: int
    seed: int
    seconds: float | None = None  # a time box: training stops after the step that passes it


class _TimeUp(Exception):
    """Raised by a hard time box: TRL's PPO loop never reads `should_training_stop`."""


class TimeBox(TrainerCallback):
    """Stops training once `seconds` have passed (and at least `min_steps` were taken), at a step boundary."""

    def __init__(self, seconds: float, min_steps: int = 1, hard: bool = False):
        self.seconds, self.min_steps, self.hard = seconds, min_steps, hard
        self.started = time.perf_counter()
        self.stopped_at: int | None = None

    @classmethod
    def boxing(cls, seconds: float | None, min_steps: int = 1, hard: bool = False) -> list[TrainerCallback]:
        """The callbacks for a Trainer: this box, or none when `seconds` is None (no time box)."""
        return [] if seconds is None else [cls(seconds, min_steps, hard)]

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.min_steps and time.perf_counter() - self.started > self.seconds:
            self.stopped_at = state.global_step
            if self.hard:
                raise _TimeUp
            control.should_training_stop = True
        return control


def _fit(
    trainer_class, config_class, model, tokenizer, columns: dict, settings: TrainingSettings, work_dir: Path, **extra
):
    with _quiet():
        trainer = trainer_class(
            model=model,
            args=config_class(
                output_dir=str(work_dir),
                num_train_epochs=settings.epochs,
                learning_rate=settings.learning_rate,
                per_device_train_batch_size=settings.batch_size,
                max_length=settings.max_length,
                seed=settings.seed,
                logging_steps=10,
                **extra,
                **COMMON,
            ),
            train_dataset=datasets.Dataset.from_dict(columns),
            processing_class=tokenizer,
            callbacks=TimeBox.boxing(settings.seconds),
        )
        trainer.train()
    return trainer.state.log_history


def train_reward_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    chosen: list[list[int]],
    rejected: list[list[int]],
    settings: TrainingSettings,
    work_dir: Path,
) -> list[dict]:
    """Bradley-Terry training on token ids of (chosen, rejected) pairs; returns the Trainer's log."""
    columns = {"chosen_ids": chosen, "rejected_ids": rejected}
    return _fit(RewardTrainer, RewardConfig, model, tokenizer, columns, settings, work_dir)


def sft_train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: list[list[int]],
    completion_mask: list[list[int]],
    settings: TrainingSettings,
    work_dir: Path,
) -> list[dict]:
    """Causal-LM fine-tuning on pre-tokenized prompt + completion rows; the loss covers the completion only."""
    columns = {"input_ids": input_ids, "completion_mask": completion_mask}
    return _fit(SFTTrainer, SFTConfig, model, tokenizer, columns, settings, work_dir, completion_only_loss=True)


@dataclass(frozen=True)
class PPOSettings:
    episodes: int
    batch_size: int
    ppo_epochs: int
    learning_rate: float
    kl_coef: float
    response_length: int
    temperature: float
    seed: int
    seconds: float | None = None  # a time box, checked after each update (at least MIN_PPO_UPDATES are made)


MIN_PPO_UPDATES = 2


class _StepLog(TrainerCallback):
    """Hands each PPO update's metrics to the caller as they are logged."""

    def __init__(self, on_step: Callable[[int, dict], None]):
        self.on_step = on_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "objective/scores" in logs:
            self.on_step(state.global_step, logs)


def ppo_tune(
    policy: PreTrainedModel,
    reference: PreTrainedModel,
    value_model: PreTrainedModel,
    reward_model: PPOReward,
    tokenizer: PreTrainedTokenizerBase,
    queries: list[list[int]],
    settings: PPOSettings,
    work_dir: Path,
    on_step: Callable[[int, dict], None] = lambda step, logs: None,
) -> list[dict]:
    """PPO with a KL penalty to `reference`; `reward_model` follows TRL's contract (a backbone under
    `base_model_prefix` whose last hidden state `.score` maps to one reward per token). Returns one log per update."""
    tokenizer.padding_side = "left"  # queries are generated from, so they are padded on the left
    queries_data = datasets.Dataset.from_dict({"input_ids": queries})
    with _quiet():
        trainer = PPOTrainer(
            args=PPOConfig(
                output_dir=str(work_dir),
                total_episodes=settings.episodes,
                per_device_train_batch_size=settings.batch_size,
                per_device_eval_batch_size=settings.batch_size,
                local_rollout_forward_batch_size=settings.batch_size,
                num_mini_batches=1,
                num_ppo_epochs=settings.ppo_epochs,
                learning_rate=settings.learning_rate,
                kl_coef=settings.kl_coef,
                response_length=settings.response_length,
                temperature=settings.temperature,
                stop_token="eos",
                missing_eos_penalty=1.0,  # a text that never ends is not a sample
                num_sample_generations=0,
                logging_steps=1,
                seed=settings.seed,
                **COMMON,
            ),
            processing_class=tokenizer,
            model=policy,
            ref_model=reference,
            reward_model=reward_model,
            value_model=value_model,
            train_dataset=queries_data,
            eval_dataset=queries_data.select(range(min(len(queries), settings.batch_size))),
            callbacks=[_StepLog(on_step)] + TimeBox.boxing(settings.seconds, MIN_PPO_UPDATES, hard=True),
        )
        with suppress(_TimeUp):  # the policy keeps the updates made so far
            trainer.train()
    return [entry for entry in trainer.state.log_history if "objective/scores" in entry]


@dataclass(frozen=True)
class GRPOSettings(PPOSettings):
    """PPO's settings read the GRPO way: `batch_size` responses per update in groups of `generations` per prompt,
    `ppo_epochs` passes over each batch (GRPO's num_iterations), `kl_coef` as beta."""

    generations: int = 4


class _QueryGRPOTrainer(GRPOTrainer):
    """GRPO that starts generation from our query ids and uses the reference model it is given.

    TRL 1.12 tokenizes a text prompt with the tokenizer's special tokens (a WordPiece [SEP] would end the query) and
    loads its reference by the policy's hub name, which a generator built from a config does not have."""

    def __init__(self, *, reference: PreTrainedModel, query_ids: dict[str, list[int]], args: GRPOConfig, **kwargs):
        beta, args.beta = args.beta, 0.0  # beta 0 at construction: TRL then loads no reference of its own
        super().__init__(args=args, **kwargs)
        self.beta = args.beta = beta
        if beta:
            self.ref_model = self.accelerator.prepare_model(reference, evaluation_mode=True)
        self.query_ids = query_ids

    def _tokenize_prompts(self, prompts: list):
        return [self.query_ids[prompt] for prompt in prompts], None, {}


class _GRPOStepLog(TrainerCallback):
    """Turns each GRPO generation step's log into PPO's keys and hands it on: `objective/scores` is the mean reward,
    `objective/kl` the per-token KL times the mean response length (PPO sums KL over a response's tokens)."""

    def __init__(self, on_step: Callable[[int, dict], None]):
        self.on_step, self.entries = on_step, []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or logs.get("reward") is None:  # optimizer steps that reuse a generated batch log no reward
            return
        kl = logs.get("kl")
        entry = {
            **logs,
            "objective/scores": logs["reward"],
            "objective/kl": kl * logs["completions/mean_length"] if kl is not None else float("nan"),
            "update": len(self.entries) + 1,
        }
        self.entries.append(entry)
        self.on_step(entry["update"], entry)


def grpo_tune(
    policy: PreTrainedModel,
    reference: PreTrainedModel,
    reward_model: PPOReward,
    tokenizer: PreTrainedTokenizerBase,
    queries: list[list[int]],
    settings: GRPOSettings,
    work_dir: Path,
    on_step: Callable[[int, dict], None] = lambda step, logs: None,
) -> list[dict]:
    """GRPO with a KL penalty to `reference`, tuning `policy` in place on the same reward as `ppo_tune` (a response
    that never ends loses 1, as PPO's missing-eos penalty). Returns one log per generated batch, keyed like PPO's.

    >>> reward = PPOReward(tokenizer, label_queries, reward_fn)  # doctest: +SKIP
    >>> grpo_tune(policy, reference, reward, tokenizer, queries, GRPOSettings(...), work_dir)  # doctest: +SKIP
    """
    tokenizer.padding_side = "left"
    prompts = [tokenizer.decode(ids) for ids in queries]
    by_text = {text: list(ids) for text, ids in zip(prompts, queries, strict=True)}  # each prompt back to its ids
    eos = tokenizer.eos_token_id

    def reward(prompts: list[str], completion_ids: list[list[int]], **_) -> list[float]:
        scores = reward_model.rewards([by_text[p] + c for p, c in zip(prompts, completion_ids, strict=True)])
        return [float(s) - (eos not in c) for s, c in zip(scores, completion_ids, strict=True)]

    updates = -(-settings.episodes // settings.batch_size)
    steps_per_update = settings.ppo_epochs  # GRPO counts optimizer steps; each batch is used ppo_epochs times
    step_log = _GRPOStepLog(on_step)
    with _quiet():
        trainer = _QueryGRPOTrainer(
            model=policy,
            reference=reference,
            query_ids=by_text,
            reward_funcs=reward,
            args=GRPOConfig(
                output_dir=str(work_dir),
                max_steps=updates * steps_per_update,
                per_device_train_batch_size=settings.batch_size,
                num_generations=settings.generations,
                num_iterations=settings.ppo_epochs,
                learning_rate=settings.learning_rate,
                beta=settings.kl_coef,
                max_completion_length=settings.response_length,
                temperature=settings.temperature,
                logging_steps=1,
                seed=settings.seed,
                **COMMON,
            ),
            processing_class=tokenizer,
            train_dataset=datasets.Dataset.from_dict({"prompt": prompts}),
            callbacks=[step_log] + TimeBox.boxing(settings.seconds, MIN_PPO_UPDATES * steps_per_update),
        )
        trainer.train()
    return step_log.entries
