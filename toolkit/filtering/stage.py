"""The filter stage: reward model, SFT + PPO generator, batch selection of candidates, label issues.

filter/pairs.jsonl              the preference pairs (human, agreement, generated) and their train / held-out role
filter/reward_model/            the reward model (+ its standardisation)
filter/generator/               the PPO-tuned generator; filter/ppo_log.json + ppo_reward.png: reward per step
filter/kept.parquet             kept candidates: text, source, reward, the ensemble's label and probabilities
filter/rejected.parquet         rejected candidates with the reason
filter/label_issues.csv         labeled rows whose gold label the teachers confidently contradict
filter/summary.json             counts, pairwise accuracy, the reward curve's start and end
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from itertools import cycle, islice
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

from toolkit.config import MAX_TRAINING_SAMPLES
from toolkit.data.loading import read_table
from toolkit.data.rendering import label_prompt, parse_fields
from toolkit.data.splits import SPLITS, Split
from toolkit.data.validation import validate_frame
from toolkit.distill.fit import capped_epochs
from toolkit.distributed import process_share
from toolkit.errors import ConfigError, DataError
from toolkit.filtering.budget import MIN_PAIRS, MIN_SAMPLES, plan_filter
from toolkit.filtering.generator import PPOReward, build_generator, generate_within, query_ids, sft_rows
from toolkit.filtering.label_issues import find_label_issues, refit_folds
from toolkit.filtering.pairs import (
    agreement_pairs,
    generated_pairs,
    pairs_to_records,
    read_preferences,
    split_pairs,
)
from toolkit.filtering.reward import RewardModel
from toolkit.filtering.selection import Reference, select
from toolkit.filtering.trl_backend import GRPOSettings, PPOSettings, TrainingSettings, grpo_tune, ppo_tune, sft_train
from toolkit.manifest import Progress, file_digest
from toolkit.manifest import fingerprint as hash_parts
from toolkit.registry import teacher_trait
from toolkit.run_context import (
    RunContext,
    Stage,
    ensemble_rule,
    load_probs,
    load_split,
    restore_teachers,
    teacher_probs,
)
from toolkit.safe_io import atomic_path, atomic_write_text
from toolkit.teachers.base import build_teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.committee import Committee
from toolkit.timing import StepClock
from toolkit.transformer_models import load_tokenizer


def resource_paths(ctx: RunContext) -> tuple[Path | None, Path | None]:
    """(preference file, unlabeled pool) for this run: the configured ones, else the pack's examples when the run
    uses the pack's example data (they describe that data, not a user's own file)."""
    spec, config = ctx.config.filter, ctx.config
    uses_example = config.example_data is not None and ctx.data_path == ctx.pack.resolve_path(config.example_data)

    def pick(configured: str | None, example: str | None) -> Path | None:
        if configured:
            return Path(configured)
        return ctx.pack.resolve_path(example) if uses_example and example else None

    return pick(spec.preferences, config.example_preferences), pick(spec.unlabeled, config.example_unlabeled)


def fingerprint(ctx: RunContext, upstream: dict[str, str]) -> str:
    """The teachers, the filter's settings (less the two keys only distill reads), the generator's base model and
    the preference and pool files."""
    c = ctx.config
    preferences, pool = resource_paths(ctx)
    return hash_parts(
        "filter",
        upstream["teachers"],
        c.filter.model_dump(mode="json", exclude={"use_for_distill": True, "label_issues": {"drop"}}),  # distill's
        c.student.model,
        [file_digest(p) if p and p.is_file() else str(p) for p in (preferences, pool)],
    )


def run(ctx: RunContext) -> dict:
    """The stage as the driver runs it: one process only."""
    if process_share()[1] > 1:
        raise ConfigError(
            "the filter stage runs in a single process, and this run was launched with several",
            hint="run it once in one process (finished stages are reused later) or set filter.enabled=false",
        )
    return run_filter(ctx, ctx.fingerprints["filter"])


def run_filter(ctx: RunContext, stage_fingerprint: str) -> dict:
    """Stage 3 of the run; see the module docstring for what it writes."""
    layout = ctx.layout
    layout.filter.mkdir(parents=True, exist_ok=True)
    progress = Progress(layout.filter_progress, stage_fingerprint)
    splits = {name: load_split(ctx, name) for name in SPLITS}
    plan = plan_filter(ctx.config, len(splits["train"].texts), transformer_teacher_seconds(ctx))
    ctx = replace(ctx, config=ctx.config.model_copy(update={"filter": plan.spec}))
    ctx.log(f"filter: {plan.describe()}")
    ensemble = load_probs(ctx.layout.ensemble_probs)
    prompts = {label: label_prompt(ctx.config, label) for label in ctx.labels}
    preferences, pool = resource_paths(ctx)
    set_seed(ctx.seed)
    cache = TeacherCache(ctx.layout.teacher_cache)
    committee = Committee(restore_teachers(ctx), ensemble_rule(ctx), cache)
    clock = StepClock()
    try:
        if progress.done("label_issues"):
            issues = pd.read_csv(layout.label_issues)
        else:
            issues = _label_issues(ctx, splits, ensemble)
            with atomic_path(layout.label_issues) as temporary:
                issues.to_csv(temporary, index=False)
            progress.record("label_issues", {"seconds": round(clock.elapsed, 1)})
        clock.lap("label_issues")
        # label issues grow with the rows; what they took (in the run that found them) comes off the time boxes
        issues_seconds = progress.info("label_issues")["seconds"]
        trained = plan.after(spent=issues_seconds)
        boxed_spent = lambda: clock.elapsed - clock.laps["label_issues"]  # noqa: E731  (the boxed steps so far)
        if progress.done("generator_sft"):
            generator, tokenizer = _restore_generator(ctx, "generator_sft")
        else:
            generator, tokenizer = _sft_generator(ctx, splits["train"], prompts, trained.box("generator_sft"))
            progress.record("generator_sft")
        clock.lap("generator_sft")
        if progress.done("reward_model"):
            reward_model, reward_summary = RewardModel.load(layout.reward_model), progress.info("reward_model")
            ctx.log("reward model: trained earlier in this run, restored")
        else:
            reward_model, reward_summary = _reward_model(
                ctx,
                splits["train"],
                ensemble["train"],
                prompts,
                preferences,
                (generator, tokenizer),
                trained.box("reward_model", boxed_spent()),
            )
            progress.record("reward_model", reward_summary)
        clock.lap("reward_model")
        if progress.done("ppo"):
            generator, tokenizer = _restore_generator(ctx, "generator")
            ppo_summary = progress.info("ppo")
        else:
            box = trained.box("ppo", boxed_spent())
            ppo_summary = {
                **_ppo(ctx, generator, tokenizer, prompts, reward_model, committee, box),
                "time_box_seconds": box,
            }
            progress.record("ppo", ppo_summary)
        clock.lap("ppo")
        generation_box = trained.box("generation", boxed_spent())
        if progress.done("candidates"):
            candidates = pd.read_parquet(layout.filter_candidates)
            ctx.log(f"candidates: {len(candidates)} written earlier in this run, restored")
        else:
            candidates = _candidates(ctx, generator, tokenizer, pool, generation_box)
            with atomic_path(layout.filter_candidates) as temporary:
                candidates.to_parquet(temporary, index=False)
            progress.record("candidates")
        clock.lap("generation")
        kept, rejected = _select(ctx, candidates, splits, prompts, reward_model, committee)
        clock.lap("selection")
    finally:
        cache.close()
    with atomic_path(layout.kept) as temporary:
        kept.to_parquet(temporary, index=False)
    with atomic_path(layout.rejected) as temporary:
        rejected.to_parquet(temporary, index=False)
    reasons = rejected["reason"].str.split(r"[:(]", regex=True).str[0].str.strip()
    summary = {
        "reward_model": reward_summary,
        "ppo": ppo_summary,
        "candidates": {
            "total": len(candidates),
            "by_source": _counts(candidates["source"]),
            "kept": len(kept),
            "kept_by_source": _counts(kept["source"]),
            "kept_by_label": _counts(kept["label"]) if len(kept) else {},
            "rejected": len(rejected),
            "rejected_by_reason": _counts(reasons),
        },
        "label_issues": {"flagged": len(issues), "by_split": _counts(issues["split"])},
        "preferences": str(preferences) if preferences else None,
        "unlabeled_pool": str(pool) if pool else None,
        "seconds": clock.laps,
        "budget": {
            "share": ctx.config.filter.budget_share,
            "scale": plan.scale,
            "seconds": plan.seconds,
            "label_issues_seconds": issues_seconds,
            "box_seconds": {
                "generator_sft": trained.box("generator_sft"),
                "reward_model": reward_summary.get("time_box_seconds"),
                "ppo": ppo_summary.get("time_box_seconds"),
                "generation": generation_box,
            },
            "estimated_filter_work": round(plan.filter_work),
            "estimated_rest_of_run_work": round(plan.rest_work),
        },
    }
    atomic_write_text(layout.filter_summary, json.dumps(summary, indent=2, default=int))
    ctx.log(
        f"filter: kept {len(kept)} of {len(candidates)} candidates ({summary['candidates']['kept_by_source']}); "
        f"{len(issues)} possible label errors listed in {layout.label_issues}"
    )
    return {
        "kept": len(kept),
        "rejected": len(rejected),
        "label_issues": len(issues),
        "reward_pairwise_accuracy": reward_summary["pairwise_accuracy"],
        "steps": clock.laps,
    }


def transformer_teacher_seconds(ctx: RunContext) -> float | None:
    """What the transformer teachers' fine-tuning and labelling took in this run: the work `teachers_work` counts,
    hence this machine's clock for the budget. The whole teachers stage also fits the scikit-learn teachers and the
    ensembles, fixed costs that on the H200 made it 2.5x the transformer's time and the budget as much too large.
    The stage's time stands in where a fit's time was not recorded."""
    stage = ctx.manifest.data["stages"].get("teachers", {})
    total = 0.0
    for spec in ctx.config.teachers:
        if spec.kind != "hf":
            continue
        marker = ctx.layout.teacher_fitted(spec.name)
        fitted = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
        if "seconds" not in fitted:
            return stage.get("seconds")
        total += fitted["seconds"] + stage.get("teachers", {}).get(spec.name, {}).get("labeling", {}).get("seconds", 0)
    return total or stage.get("seconds")


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}


# ------------------------------------------------------------------------------------------------ reward model


def _reward_model(
    ctx: RunContext,
    train: Split,
    train_probs: np.ndarray,
    prompts: dict,
    preferences: Path | None,
    generator,
    seconds: float | None = None,
) -> tuple[RewardModel, dict]:
    """Build the preference pairs and train the reward model on them; `seconds` boxes the whole step (the generated
    pairs' decoding included, which on a GPU took as long as the training)."""
    started = time.perf_counter()
    spec = ctx.config.filter.reward
    labels = np.asarray(train.labels)
    pairs = read_preferences(preferences, ctx.config) if spec.human_pairs and preferences else []
    pairs += agreement_pairs(train.texts, labels, train_probs, ctx.labels, spec.agreement_pairs, ctx.seed)
    if spec.generated_pairs:
        wanted = list(islice(cycle(ctx.labels), spec.generated_pairs))
        model, tokenizer = generator
        g = ctx.config.filter.generator
        # decoding these took as long as the reward model's training on a GPU: they get half the step's box
        written = generate_within(
            model,
            tokenizer,
            [prompts[label] for label in wanted],
            g.response_length,
            g.temperature,
            None if seconds is None else seconds / 2,
            MIN_PAIRS // 2,
        )
        wanted = wanted[: len(written)]
        real_labels = [ctx.labels[k] for k in labels]
        pairs += generated_pairs(train.texts, real_labels, written, wanted, ctx.seed)
    if not pairs:
        raise DataError(
            "filter: no preference pairs (no preference file, too few rows for automatic pairs)",
            hint="give --preferences FILE, or set filter.enabled=false",
        )
    fit_pairs, held_out = split_pairs(pairs, spec.held_out, ctx.seed)
    records = [{**r, "role": "train"} for r in pairs_to_records(fit_pairs)]
    records += [{**r, "role": "held_out"} for r in pairs_to_records(held_out)]
    atomic_write_text(ctx.layout.reward_pairs, "".join(json.dumps(r) + "\n" for r in records))
    counts = _counts(pd.Series([p.source for p in pairs]))
    model = RewardModel.build(spec.model or ctx.config.student.model, spec.max_length)
    before = model.pairwise_accuracy(held_out, prompts)
    left = None if seconds is None else max(0.0, seconds - (time.perf_counter() - started))
    settings = TrainingSettings(spec.epochs, spec.learning_rate, spec.batch_size, spec.max_length, ctx.seed, left)
    ctx.log(f"reward model: training on {len(fit_pairs)} pairs (in all: {counts})")
    model.fit(fit_pairs, prompts, settings, ctx.layout.reward_training)
    model.standardise_on([prompts[ctx.labels[k]] for k in labels], train.texts)
    accuracy = {
        source: model.pairwise_accuracy([p for p in held_out if p.source == source], prompts) for source in counts
    }
    overall = model.pairwise_accuracy(held_out, prompts)
    model.save(ctx.layout.reward_model)
    shutil.rmtree(ctx.layout.reward_training, ignore_errors=True)
    by_source = ", ".join(f"{source} {_fmt(value)}" for source, value in accuracy.items())
    ctx.log(
        f"reward model: pairwise accuracy on {len(held_out)} held-out pairs {overall:.3f} "
        f"(before training {before:.3f}; {by_source})"
    )
    return model, {
        "pairs": {**counts, "train": len(fit_pairs), "held_out": len(held_out)},
        "pairwise_accuracy": overall,
        "pairwise_accuracy_before_training": before,
        "pairwise_accuracy_by_source": accuracy,
        "time_box_seconds": seconds,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --------------------------------------------------------------------------------------------------- generator


def _sft_generator(ctx: RunContext, train: Split, prompts: dict, seconds: float | None = None):
    """The generator after SFT on the training texts, each conditioned on its gold label's prompt."""
    spec = ctx.config.filter.generator
    model, tokenizer = build_generator(spec, ctx.config.student.model)
    train_prompts = [prompts[ctx.labels[k]] for k in train.labels]
    ids, masks = sft_rows(tokenizer, train_prompts, list(train.texts), spec.max_length)
    epochs = capped_epochs(spec.sft_epochs, len(ids), MAX_TRAINING_SAMPLES)
    ctx.log(f"generator: SFT on {len(ids)} training texts conditioned on their label ({epochs:g} epochs)")
    batch = min(16, len(ids))
    settings = TrainingSettings(epochs, spec.sft_learning_rate, batch, spec.max_length, ctx.seed, seconds)
    sft_train(model, tokenizer, ids, masks, settings, ctx.layout.generator_training)
    shutil.rmtree(ctx.layout.generator_training, ignore_errors=True)
    model.save_pretrained(ctx.layout.generator_sft)
    tokenizer.save_pretrained(ctx.layout.generator_sft)
    return model, tokenizer


def _restore_generator(ctx: RunContext, name: str):
    folder = ctx.layout.filter / name
    ctx.log(f"generator: {name} finished earlier in this run, restored from {folder}")
    return AutoModelForCausalLM.from_pretrained(folder), load_tokenizer(str(folder))


def _ppo(
    ctx: RunContext,
    model,
    tokenizer,
    prompts: dict,
    reward_model: RewardModel,
    committee: Committee,
    seconds: float | None = None,
) -> dict:
    """PPO (or GRPO, by `filter.generator.algorithm`) against reward-model score + lambda x the ensemble's
    confidence in the conditioning label."""
    spec = ctx.config.filter.generator
    if spec.ppo_episodes == 0 or spec.samples == 0:
        return {"steps": 0}
    sft_dir, work = ctx.layout.generator_sft, ctx.layout.generator_training
    label_index = {label: k for k, label in enumerate(ctx.labels)}
    fields = ctx.config.columns.fields
    trace: list[dict] = []

    def reward(labels: list[str], texts: list[str]) -> np.ndarray:
        rows = pd.DataFrame([parse_fields(t, fields) for t in texts]) if fields else None
        probs = committee.predict_proba(texts, rows)
        confidence = probs[np.arange(len(texts)), [label_index[label] for label in labels]]
        score = reward_model.score([prompts[label] for label in labels], texts)
        trace.append({"reward_model": float(score.mean()), "confidence": float(confidence.mean())})
        return score + spec.confidence_weight * confidence

    label_queries = {label: query_ids(tokenizer, prompts[label]) for label in ctx.labels}
    queries = list(islice(cycle(label_queries.values()), max(spec.ppo_batch_size * 4, len(ctx.labels))))
    steps: list[dict] = []
    n_updates = -(-spec.ppo_episodes // spec.ppo_batch_size)

    def on_step(step: int, logs: dict) -> None:
        parts = trace[-1] if trace else {}
        entry = {
            "step": step,
            "reward": logs["objective/scores"],
            "reward_model": parts.get("reward_model"),
            "confidence": parts.get("confidence"),
            "kl": logs["objective/kl"],
        }
        steps.append(entry)
        ctx.log(
            f"{spec.algorithm} step {step}/{n_updates}: mean reward {entry['reward']:+.3f} (reward model "
            f"{_fmt(entry['reward_model'])}, teacher confidence {_fmt(entry['confidence'])}), KL {entry['kl']:.3f}"
        )

    ctx.log(
        f"generator: {spec.algorithm.upper()} for {spec.ppo_episodes} episodes, "
        f"reward = RM + {spec.confidence_weight:g} x confidence"
    )
    sizes = {
        "episodes": spec.ppo_episodes,
        "batch_size": spec.ppo_batch_size,
        "ppo_epochs": spec.ppo_epochs,
        "learning_rate": spec.ppo_learning_rate,
        "kl_coef": spec.kl_coef,
        "response_length": spec.response_length,
        "temperature": spec.temperature,
        "seed": ctx.seed,
        "seconds": seconds,
    }
    reference, ppo_reward = AutoModelForCausalLM.from_pretrained(sft_dir), PPOReward(tokenizer, label_queries, reward)
    if spec.algorithm == "grpo":
        settings = GRPOSettings(**sizes, generations=spec.grpo_generations)
        grpo_tune(model, reference, ppo_reward, tokenizer, queries, settings, work, on_step)
    else:
        value_model = AutoModelForSequenceClassification.from_pretrained(sft_dir, num_labels=1)
        ppo_tune(model, reference, value_model, ppo_reward, tokenizer, queries, PPOSettings(**sizes), work, on_step)
    model.save_pretrained(ctx.layout.generator)
    tokenizer.save_pretrained(ctx.layout.generator)
    shutil.rmtree(work, ignore_errors=True)
    curve = _reward_curve(steps)
    atomic_write_text(ctx.layout.ppo_log, json.dumps({"steps": steps, **curve}, indent=2))
    _plot_rewards(steps, ctx.layout.ppo_plot)
    if curve:
        ctx.log(
            f"ppo: mean reward {curve['first_quarter_mean']:+.3f} over the first quarter of steps, "
            f"{curve['last_quarter_mean']:+.3f} over the last"
        )
    return {"steps": len(steps), **curve}


def _reward_curve(steps: list[dict]) -> dict:
    if len(steps) < 4:
        return {}
    rewards = np.array([s["reward"] for s in steps])
    quarter = len(rewards) // 4
    return {
        "first_quarter_mean": float(rewards[:quarter].mean()),
        "last_quarter_mean": float(rewards[-quarter:].mean()),
        "slope_per_step": float(np.polyfit(np.arange(len(rewards)), rewards, 1)[0]),
    }


def _plot_rewards(steps: list[dict], path: Path) -> None:
    if not steps:
        return
    from toolkit.metrics.plots import subplots

    x = [s["step"] for s in steps]
    fig, ax = subplots(figsize=(6, 3.2))
    ax.plot(x, [s["reward"] for s in steps], marker=".", label="mean reward (RM + lambda x confidence)")
    if all(s["reward_model"] is not None for s in steps):
        ax.plot(x, [s["reward_model"] for s in steps], alpha=0.6, label="reward model (standardised)")
        ax.plot(x, [s["confidence"] for s in steps], alpha=0.6, label="teacher confidence in the label")
    ax.set_xlabel("PPO update")
    ax.set_ylabel("reward")
    ax.set_title("Generator reward over PPO updates")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -------------------------------------------------------------------------------------------------- candidates


def _candidates(ctx: RunContext, generator, tokenizer, pool: Path | None, seconds: float | None = None) -> pd.DataFrame:
    """The generated candidates (as many of `filter.generator.samples` as `seconds` allows, balanced over the labels)
    and the unlabeled pool's rows."""
    spec = ctx.config.filter.generator
    fields = [f.name for f in ctx.config.columns.fields]
    parts = []
    if spec.samples:
        labels = list(islice(cycle(ctx.labels), spec.samples))
        prompts = [label_prompt(ctx.config, label) for label in labels]
        boxed = f" ({seconds:g} s at most)" if seconds is not None else ""
        ctx.log(f"generator: writing {len(prompts)} candidate texts{boxed}")
        texts = generate_within(
            generator, tokenizer, prompts, spec.response_length, spec.temperature, seconds, MIN_SAMPLES
        )
        if len(texts) < len(prompts):
            ctx.log(f"generator: wrote {len(texts)} of {len(prompts)} candidates in the filter's time budget")
        labels = labels[: len(texts)]
        frame = pd.DataFrame(
            {
                "candidate_id": [f"gen-{i:05d}" for i in range(len(texts))],
                "source": "generated",
                "input": texts,
                "label_hint": labels,
            }
        )
        parsed = pd.DataFrame([parse_fields(t, ctx.config.columns.fields) for t in texts], columns=fields)
        parts.append(pd.concat([frame, parsed], axis=1))
    if pool is not None:
        rows, report, _ = validate_frame(read_table(pool), ctx.config, pool, labeled=False)
        report.raise_if_errors()
        ids = rows["id"].astype(str) if "id" in rows.columns else pd.Series(range(len(rows))).astype(str)
        frame = pd.DataFrame(
            {"candidate_id": "pool-" + ids, "source": "unlabeled pool", "input": rows["input"], "label_hint": None}
        )
        parts.append(pd.concat([frame, rows[[f for f in fields if f in rows.columns]]], axis=1))
        ctx.log(f"candidates: {len(frame)} rows from the unlabeled pool {pool}")
    if not parts:
        return pd.DataFrame(columns=["candidate_id", "source", "input", "label_hint", *fields])
    return pd.concat(parts, ignore_index=True)


def _select(ctx, candidates: pd.DataFrame, splits: dict, prompts: dict, reward_model: RewardModel, committee):
    spec = ctx.config.filter
    fields = [f.name for f in ctx.config.columns.fields]
    labels = ctx.labels

    def score(batch: pd.DataFrame) -> pd.DataFrame:
        rows = batch.reindex(columns=fields) if fields else None
        probs = committee.predict_proba(batch["input"].tolist(), rows.reset_index(drop=True) if fields else None)
        ensemble_label = probs.argmax(axis=1)
        hints = batch["label_hint"].tolist()
        hint = [labels.index(h) if isinstance(h, str) else e for h, e in zip(hints, ensemble_label, strict=True)]
        hint_confidence = probs[np.arange(len(batch)), hint]
        rm = reward_model.score([prompts[labels[k]] for k in hint], batch["input"].tolist())
        out = pd.DataFrame(
            {
                "reward": rm + spec.generator.confidence_weight * hint_confidence,
                "reward_model": rm,
                "hint_confidence": hint_confidence,
                "confidence": probs.max(axis=1),
                "label": [labels[k] for k in ensemble_label],
            }
        )
        for k, label in enumerate(labels):
            out[f"p_{label}"] = probs[:, k]
        return out

    cap = int(spec.selection.max_added * len(splits["train"].texts))
    floor = _reward_floor(ctx, splits["train"], prompts, reward_model)
    reference = Reference(
        train=list(splits["train"].texts), held_out=[*splits["validation"].texts, *splits["test"].texts]
    )
    kept, rejected = select(
        candidates,
        score,
        reference,
        spec.selection,
        cap,
        on_batch=lambda n, k, r: ctx.log(f"selection batch {n}: kept {k}, rejected {r}"),
        reward_floor=floor,
    )
    return kept, rejected


def _reward_floor(ctx: RunContext, train: Split, prompts: dict, reward_model: RewardModel) -> float | None:
    """The `reward_floor_quantile` of the reward model's scores of real training texts under their gold labels."""
    quantile = ctx.config.filter.selection.reward_floor_quantile
    if quantile == 0 or not len(train.texts):
        return None
    rows = np.random.default_rng(ctx.seed).permutation(len(train.texts))[:1024]  # enough for a quantile
    scores = reward_model.score([prompts[ctx.labels[train.labels[i]]] for i in rows], [train.texts[i] for i in rows])
    floor = float(np.quantile(scores, quantile))
    ctx.log(f"selection: reward floor {floor:.3f} (quantile {quantile:g} of {len(rows)} real training texts)")
    return floor


# ------------------------------------------------------------------------------------------------ label issues


def _label_issues(ctx: RunContext, splits: dict[str, Split], ensemble: dict[str, np.ndarray]) -> pd.DataFrame:
    """Confident-learning flags over every labeled row; training rows use out-of-fold probabilities for the
    teachers cheap to refit (the others' training outputs are in-sample, which only makes flags rarer)."""
    columns = ["split", "row", "id", "text", "given_label", "suggested_label", "given_probability"]
    if not ctx.config.filter.label_issues.enabled:
        return pd.DataFrame(columns=columns)
    train_probs = _out_of_fold_train(ctx, splits)
    probs = {"train": train_probs, "validation": ensemble["validation"], "test": ensemble["test"]}
    frames = {name: pd.read_parquet(ctx.layout.split(name)) for name in SPLITS}
    labels = np.concatenate([np.asarray(splits[name].labels) for name in SPLITS])
    stacked = np.concatenate([probs[name] for name in SPLITS])
    issues = find_label_issues(labels, stacked, ctx.labels)
    whole = pd.concat([frames[name].assign(split=name) for name in SPLITS], ignore_index=True)
    picked = whole.iloc[issues["position"]].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "split": picked["split"],
            "row": picked["row"] if "row" in picked.columns else issues["position"],
            "id": picked["id"] if "id" in picked.columns else None,
            "text": picked["input"],
        }
    )
    return pd.concat([out, issues.drop(columns="position")], axis=1)


def _out_of_fold_train(ctx: RunContext, splits: dict[str, Split]) -> np.ndarray:
    train, validation = splits["train"], splits["validation"]
    y = np.asarray(train.labels)
    spec = ctx.config.filter.label_issues
    folds = min(refit_folds(spec.folds, len(y), spec.max_refit_rows), int(np.bincount(y).min()))
    stored = teacher_probs(ctx)
    per_teacher = []
    for spec, probs in zip(ctx.config.teachers, stored, strict=True):
        if not teacher_trait(spec.kind, "cheap") or folds < 2:
            per_teacher.append(probs["train"])
            continue
        oof = np.zeros_like(probs["train"])
        for fold, (fit_idx, held_idx) in enumerate(
            StratifiedKFold(folds, shuffle=True, random_state=ctx.seed).split(np.zeros(len(y)), y)
        ):
            teacher = build_teacher(
                spec, ctx.labels, ctx.seed, ctx.config.student.max_length, ctx.pack, ctx.config.columns.fields
            )
            teacher.fit(_subset(train, fit_idx), validation, ctx.layout.out_of_fold.joinpath(spec.name, str(fold)))
            held = _subset(train, held_idx)
            oof[held_idx] = teacher.predict_proba(held.texts, held.rows)
        per_teacher.append(oof)
    shutil.rmtree(ctx.layout.out_of_fold, ignore_errors=True)
    return ensemble_rule(ctx).combine(per_teacher)


def _subset(split: Split, index: np.ndarray) -> Split:
    rows = split.rows.iloc[index].reset_index(drop=True) if split.rows is not None else None
    return Split([split.texts[i] for i in index], np.asarray(split.labels)[index], rows=rows)


STAGE = Stage("filter", fingerprint, run, enabled=lambda config: config.filter.enabled)
