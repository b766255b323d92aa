"""Defaults that depend on the machine: without a GPU, transformers train on fewer rows x epochs.

On 2 CPU cores the student trains at 40-50 rows/s against 1,500-2,600 on an H200 (BENCHMARKS.md), so the GPU's
cap (`recipe_search.max_samples`, 40,000 rows seen) would make a default run of 2,400 rows take over an hour there.
`cpu.max_training_samples` caps the student candidates and the transformer teachers instead; the resolved caps are
in the run's manifest (`config`), so a run says what it trained.

>>> from toolkit.packs import load_pack
>>> for_device(load_pack("medical_triage").config, gpu=False).recipe_search.max_samples
4000
>>> for_device(load_pack("medical_triage").config, gpu=True).recipe_search.max_samples
40000
"""

from __future__ import annotations

import torch

from toolkit.config import MAX_TRAINING_SAMPLES, PackConfig, TeacherSpec


def for_device(config: PackConfig, gpu: bool | None = None) -> PackConfig:
    """`config` with the CPU's training caps applied when there is no GPU (`gpu`: None asks torch)."""
    cap = config.cpu.max_training_samples
    if cap is None or (torch.cuda.is_available() if gpu is None else gpu):
        return config
    search = config.recipe_search
    return config.model_copy(
        update={
            "recipe_search": search.model_copy(update={"max_samples": _lower(search.max_samples, cap)}),
            "teachers": [_capped_teacher(t, cap) if t.kind == "hf" else t for t in config.teachers],
        }
    )


def _capped_teacher(teacher: TeacherSpec, cap: int) -> TeacherSpec:
    configured = teacher.options.get("max_samples", MAX_TRAINING_SAMPLES)
    return teacher.model_copy(update={"options": {**teacher.options, "max_samples": _lower(configured, cap)}})


def _lower(configured: int | None, cap: int) -> int:
    return cap if configured is None else min(configured, cap)
