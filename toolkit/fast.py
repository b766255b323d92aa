"""`--fast`: the pack's config shortened for a quick run (shorter inputs, fewer epochs, samples and timed texts);
each reduction is an upper bound from the pack's `fast:` section, never an increase.

>>> from toolkit.packs import load_pack
>>> effective_config(load_pack("medical_triage").config, fast=True).distill.epochs  # 8 epochs in the pack
3.0
"""

from __future__ import annotations

from toolkit.config import FastSpec, FilterSpec, PackConfig


def effective_config(config: PackConfig, fast: bool) -> PackConfig:
    """The pack config with `--fast` reductions applied (shorter inputs, fewer epochs)."""
    if not fast:
        return config
    f = config.fast
    teachers = []
    for t in config.teachers:
        if t.kind == "hf":
            epochs = min(float(t.options.get("epochs", f.teacher_epochs)), f.teacher_epochs)
            t = t.model_copy(update={"options": {**t.options, "epochs": epochs}})
        teachers.append(t)
    return config.model_copy(
        update={
            "teachers": teachers,
            "student": config.student.model_copy(update={"max_length": min(config.student.max_length, f.max_length)}),
            "distill": config.distill.model_copy(update={"epochs": min(config.distill.epochs, f.student_epochs)}),
            "filter": _fast_filter(config, f),
            "compress": config.compress.model_copy(
                update={
                    "latency": config.compress.latency.model_copy(
                        update={"texts": min(config.compress.latency.texts, f.latency_texts)}
                    )
                }
            ),
        }
    )


def _fast_filter(config: PackConfig, f: FastSpec) -> FilterSpec:
    spec = config.filter
    g = spec.generator
    return spec.model_copy(
        update={
            "reward": spec.reward.model_copy(
                update={
                    "epochs": min(spec.reward.epochs, f.reward_epochs),
                    "agreement_pairs": min(spec.reward.agreement_pairs, f.agreement_pairs),
                    "generated_pairs": min(spec.reward.generated_pairs, f.generated_pairs),
                }
            ),
            "generator": g.model_copy(
                update={
                    "sft_epochs": min(g.sft_epochs, f.generator_epochs),
                    "ppo_episodes": min(g.ppo_episodes, f.ppo_episodes),
                    "samples": min(g.samples, f.generated_samples),
                }
            ),
        }
    )
