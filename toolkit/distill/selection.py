"""Recipe selection on validation: which candidate recipes a run trains, and which one it ships.

The candidates, in order:
    recipe      the pack's recipe, with every kept filter sample
    finetune    the baseline a user would write: the student's base model fully fine-tuned on gold labels alone
    <variant>   `recipe_search.variants` (LoRA vs full fine-tuning, a temperature / alpha grid), within the budget
    <best>_without_<source>     the best distilled candidate so far without each kind of filter sample it used

Every candidate trains on the same rows with its epochs scaled to the data, the variants and ablations within
`selection_budget` (smaller on large data); the one best on validation is deployed (ties go to fewer added
samples, then to the earlier candidate). The test split never chooses.

>>> choose([CandidateResult("recipe", "", False, ("generated",), 0.80, {}, 10.0),
...         CandidateResult("recipe_without_generated", "", False, (), 0.80, {}, 9.0)]).name
'recipe_without_generated'
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit.config import PackConfig, RecipeSearchSpec, apply_overrides
from toolkit.distill.fit import capped_epochs
from toolkit.run_layout import RunLayout

SAMPLE_SOURCES = ("unlabeled pool", "generated")  # the `source` values of filter/kept.parquet
FINETUNE = "finetune"


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    config: PackConfig  # the run's config with this candidate's student / distill settings
    samples: tuple[str, ...]  # kinds of kept filter samples added to its training rows
    baseline: bool = False


@dataclass(frozen=True)
class CandidateResult:
    name: str
    description: str
    baseline: bool
    samples: tuple[str, ...]
    value: float | None  # the primary metric on validation; None: not trained
    validation: dict[str, float]
    seconds: float
    status: str = "trained"  # or why it was not
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**asdict(self), "samples": list(self.samples)}


def shipped_teacher(run_dir: Path) -> str | None:
    """The scikit-learn teacher a run deploys instead of a transformer (it won the selection), or None."""
    path = RunLayout(Path(run_dir)).selection
    return json.loads(path.read_text(encoding="utf-8")).get("deployed_teacher") if path.is_file() else None


def scaled_epochs(config: PackConfig, train_rows: int, fast: bool) -> PackConfig:
    """Small sets get more epochs (at least `recipe_search.min_steps` optimizer steps, at most `max_epochs`), large
    ones fewer (at most `max_samples` rows seen); early stopping on validation ends training when it stops helping.
    Explicit phases and `--fast` are kept."""
    spec, distill = config.recipe_search, config.distill
    if fast or distill.phases:
        return config
    steps_per_epoch = max(1, math.ceil(train_rows / distill.batch_size))
    epochs = min(spec.max_epochs, max(distill.epochs, math.ceil(spec.min_steps / steps_per_epoch)))
    epochs = capped_epochs(epochs, train_rows, spec.max_samples)
    return config.model_copy(update={"distill": distill.model_copy(update={"epochs": float(epochs)})})


def finetune_config(config: PackConfig) -> PackConfig:
    """The plain fine-tune: no LoRA, no teacher (alpha 1: gold labels only), one phase, no loss tricks."""
    return apply_overrides(
        config,
        {
            "student.lora": None,
            "student.keep_layers": None,
            "distill.alpha": 1.0,
            "distill.alpha_schedule": None,
            "distill.temperature_schedule": None,
            "distill.learning_rate": config.recipe_search.finetune_learning_rate,
            "distill.phases": None,
            "distill.intermediate": None,
            "distill.class_weights": "none",
            "distill.focal_gamma": 0.0,
        },
        "recipe_search (the plain fine-tune)",
    )


def first_candidates(config: PackConfig, fast: bool, sources: tuple[str, ...]) -> list[Candidate]:
    """The recipe, the fine-tune baseline, and the variants (`fast.recipe_variants` of them under --fast)."""
    model = config.student.model
    out = [
        Candidate("recipe", "the pack's recipe", config, sources),
        Candidate(FINETUNE, f"plain fine-tune of {model} on gold labels (baseline)", finetune_config(config), (), True),
    ]
    if not config.recipe_search.enabled:
        return out[:1]
    variants = config.recipe_search.variants[: config.fast.recipe_variants if fast else None]
    for variant in variants:
        described = ", ".join(f"{key.split('.', 1)[1]}={value}" for key, value in variant.overrides.items())
        source = f"recipe_search.variants.{variant.name}"
        out.append(Candidate(variant.name, described, apply_overrides(config, variant.overrides, source), sources))
    return out


def without_each_source(best: Candidate) -> list[Candidate]:
    """The best distilled candidate once without each kind of filter sample: they stay only if they help."""
    return [
        replace(
            best,
            name=f"{best.name}_without_{source.replace(' ', '_')}",
            description=f"{best.name} without the {source} samples",
            samples=tuple(s for s in best.samples if s != source),
        )
        for source in best.samples
    ]


def choose(results: list[CandidateResult]) -> CandidateResult:
    """The best on validation; ties go to fewer added sample kinds, then to the earlier candidate."""
    trained = [(k, r) for k, r in enumerate(results) if r.value is not None]
    return min(trained, key=lambda kr: (-round(kr[1].value, 6), len(kr[1].samples), kr[0]))[1]


def best_distilled(selection: dict) -> str:
    """The name of the best distilled candidate of a stored selection (student/selection.json): what distillation
    achieved, whether or not a baseline was deployed."""
    results = [CandidateResult(**{**c, "samples": tuple(c["samples"])}) for c in selection["candidates"]]
    return choose([r for r in results if not r.baseline and r.value is not None]).name


def selection_budget(spec: RecipeSearchSpec, train_rows: int) -> float:
    """The candidates after the recipe and the baseline may take this x the recipe's time: `budget`, shrunk in
    proportion above `budget_rows` training rows so that selection's extra cost stops growing with the data.

    >>> spec = RecipeSearchSpec()
    >>> selection_budget(spec, 1_680), selection_budget(spec, 16_000), selection_budget(spec, 70_000)
    (4.0, 1.0, 0.23)
    """
    if not spec.budget_rows or train_rows <= spec.budget_rows:
        return spec.budget
    return round(spec.budget * spec.budget_rows / train_rows, 2)


def over_budget(results: list[CandidateResult], budget: float) -> bool:
    """Whether one more candidate (costing about what the recipe did) would take the candidates after the recipe
    and the baseline past `budget` x the recipe's wall time."""
    if len(results) < 2:
        return False
    extra = sum(r.seconds for r in results[2:])
    return extra + results[0].seconds >= budget * results[0].seconds * 1.05  # 5%: timing noise between equals
