"""Typed configuration: a pack's `pack.yaml` and a run's overrides, validated once with messages naming the key.

Examples
--------
>>> from toolkit.config import load_pack_config
>>> cfg = load_pack_config("domains/finance_risk/pack.yaml")  # doctest: +SKIP
>>> cfg.label_names  # doctest: +SKIP
['low', 'medium', 'high']
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolkit.errors import ConfigError
from toolkit.registry import ENSEMBLE_METHODS, TEACHER_KINDS

# On large data, a transformer (student candidate or teacher) trains on at most this many rows x epochs by default.
MAX_TRAINING_SAMPLES = 40_000


class StrictModel(BaseModel):
    """Base for every config object: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""


class Band(StrictModel):
    """A named range of a numeric field, rendered next to the value, e.g. `SpO2 88% (low)`."""

    tag: str
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Band:
        if (self.below is None) == (self.above is None):
            raise ValueError("a band needs exactly one of `below` or `above`")
        return self


class FieldSpec(StrictModel):
    """A structured column that travels with the free text."""

    name: str
    type: Literal["int", "float", "category"]
    label: str | None = None  # how the field is named in the rendered text; defaults to `name`
    unit: str = ""
    allowed: list[str] | None = None  # for categories
    bands: list[Band] = []
    required: bool = True
    # the plausible range of a numeric field (inclusive): a value outside it is an error of its row, e.g. SpO2 -40
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _plausible_range(self) -> FieldSpec:
        if self.type == "category" and (self.min is not None or self.max is not None):
            raise ValueError(f"field {self.name!r}: `min` / `max` apply to int and float fields, not to a category")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.name!r}: `min` ({self.min:g}) is above `max` ({self.max:g})")
        return self


class ColumnSpec(StrictModel):
    """The pack's column names: what a file must hold after the user's column map is applied."""

    id: str | None = None
    text: str = "text"
    label: str = "label"
    group: str | None = None  # rows sharing a group (e.g. a patient) never straddle splits
    split: str | None = None  # the user's own train / validation / test assignment, when given
    fields: list[FieldSpec] = []


COLUMN_ROLES = ("text", "label", "id", "group", "split")


class InputMapSpec(StrictModel):
    """How a user's own file maps onto the pack, so users keep their column names and label spellings.

    `columns` maps a user column to a role (`text`, `label`, `id`, `group`, `split`) or to a pack field;
    several columns mapped to `text` are rendered as `name: value` pairs, and `*` stands for every column not
    mapped otherwise. `labels` maps raw label values to the pack's labels.
    """

    columns: dict[str, str] = {}
    labels: dict[str, str] = {}
    drop_unlabeled: bool = False  # rows with an empty label are dropped (and listed) instead of being errors
    drop_conflicting: bool = False  # one input with two labels: drop (and list) all its rows instead of an error


class DataRulesSpec(StrictModel):
    max_text_chars: int = Field(default=4000, ge=10)
    imbalance_warning_ratio: float = Field(default=0.1, gt=0.0, le=1.0)  # smallest / largest class size


class RenderSpec(StrictModel):
    """How a row becomes the model's input: `{text}`, `{fields}` (all fields) or any single `{field_name}`."""

    template: str = "{text} | {fields}"
    field_separator: str = " | "
    # a free text longer than this many characters swaps places with {fields}, so that cutting the input at the
    # model's max_length takes the end of the text and never the fields (0: always as the template says)
    fields_first_above: int = Field(default=300, ge=0)


class TargetSpec(StrictModel):
    """A figure the domain must reach, e.g. recall of `high` at least 0.95, or under-triage at most 0.05."""

    metric: Literal["recall", "precision", "f1", "macro_f1", "accuracy", "under_triage_rate", "over_triage_rate"]
    label: str | None = None
    at_least: float | None = Field(default=None, ge=0.0, le=1.0)
    at_most: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_bound(self) -> TargetSpec:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("a target needs exactly one of `at_least` or `at_most`")
        if self.metric in ("recall", "precision", "f1") and self.label is None:
            raise ValueError(f"a `{self.metric}` target needs the `label` it applies to")
        return self

    @property
    def key(self) -> str:
        return f"{self.metric}[{self.label}]" if self.label else self.metric

    @property
    def bound(self) -> tuple[str, float]:
        return ("at_least", self.at_least) if self.at_least is not None else ("at_most", self.at_most)

    def is_met(self, value: float) -> bool:
        return value >= self.at_least if self.at_least is not None else value <= self.at_most


class TeacherSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str  # a registered teacher kind (toolkit/registry.py): the built-in ones or any `@register_teacher`
    options: dict[str, Any] = {}

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, kind: str) -> str:
        return TEACHER_KINDS.check(kind)


class EnsembleSpec(StrictModel):
    """How teachers' probabilities become the student's soft targets (every method is reported; this one is used)."""

    method: str = "weighted"  # a registered ensemble method: mean, weighted, confidence, routing or a new one
    cheap: list[str] | None = None  # routing: teachers asked first; default: the sklearn, tabular and rules ones
    sharpness: float = Field(default=2.0, ge=0.0, le=10.0)  # confidence weighting: confidence ** sharpness

    @field_validator("method")
    @classmethod
    def _registered_method(cls, method: str) -> str:
        return ENSEMBLE_METHODS.check(method)


class LoraSpec(StrictModel):
    r: int = Field(default=8, ge=1, le=256)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None  # None: found from the architecture


class StudentSpec(StrictModel):
    model: str = "minilm"  # alias, hub id or local path
    lora: LoraSpec | None = LoraSpec()
    max_length: int = Field(default=128, ge=8, le=4096)
    keep_layers: list[int] | None = None  # a smaller student: keep these encoder layers of `model` (DistilBERT-style)


class ScheduleSpec(StrictModel):
    """A value over training: constant, linear or cosine from `start` to `end`, or loss-adaptive (temperature)."""

    kind: Literal["constant", "linear", "cosine", "adaptive"] = "constant"
    start: float = Field(default=2.0, ge=0.0, le=20.0)
    end: float = Field(default=2.0, ge=0.0, le=20.0)
    high: float = Field(default=1.0, gt=0.0)  # adaptive: KD loss above this doubles T
    low: float = Field(default=0.05, ge=0.0)  # adaptive: KD loss below this halves T


class IntermediateSpec(StrictModel):
    """Medium phase: match a transformer teacher's hidden states and attention maps at mapped layers.

    `layer_map` pairs [teacher_layer, student_layer] (hidden-state index 0 is the embeddings); widths may differ:
    a learned projection maps the student's width to the teacher's."""

    teacher: str
    layer_map: list[tuple[int, int]] = Field(min_length=1)
    hidden_weight: float = Field(default=1.0, ge=0.0)  # gamma
    attention_weight: float = Field(default=1.0, ge=0.0)  # beta


class PhaseSpec(StrictModel):
    """One phase of the recipe: coarse (soft targets at high T), medium (intermediate transfer), fine (hard-label
    LoRA polish of the top layers)."""

    name: Literal["coarse", "medium", "fine"]
    epochs: float = Field(default=3.0, gt=0.0)
    learning_rate: float | None = Field(default=None, gt=0.0, lt=1.0)  # default: the recipe's
    top_layers: int = Field(default=2, ge=1)  # fine: how many top layers LoRA polishes


class DistillSpec(StrictModel):
    temperature: float = Field(default=2.0, gt=0.0, le=20.0)  # used when no temperature_schedule is given
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)  # weight of the gold-label CE; (1 - alpha) goes to KL
    temperature_schedule: ScheduleSpec | None = None
    alpha_schedule: ScheduleSpec | None = None
    epochs: float = Field(default=6.0, gt=0.0)  # of the coarse phase when `phases` is not given
    learning_rate: float = Field(default=2e-3, gt=0.0, lt=1.0)
    batch_size: int = Field(default=16, ge=1)
    # on a GPU: this batch, with the learning rate scaled by sqrt(gpu_batch_size / batch_size); None: batch_size
    gpu_batch_size: int | None = Field(default=64, ge=1)
    weight_decay: float = Field(default=0.01, ge=0.0)
    phases: list[PhaseSpec] | None = None  # None: one coarse phase of `epochs`
    intermediate: IntermediateSpec | None = None
    class_weights: Literal["none", "balanced"] = "none"
    focal_gamma: float = Field(default=0.0, ge=0.0, le=5.0)  # > 0: focal loss instead of CE on gold labels
    early_stopping_patience: int | None = Field(default=3, ge=1)  # epochs without a better validation metric
    primary_metric: Literal["macro_f1", "critical_recall", "accuracy"] = "macro_f1"
    # batches of similar length (less padding). None: on a GPU, where padding is most of the cost; off on a CPU,
    # where on a few hundred rows it would fix which rows share a batch
    length_bucketing: bool | None = None


class RecipeVariant(StrictModel):
    """One more recipe tried on validation: dotted overrides of `student.` / `distill.` keys."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    overrides: dict[str, Any] = {}

    @model_validator(mode="after")
    def _student_or_distill_keys(self) -> RecipeVariant:
        wrong = [key for key in self.overrides if not key.startswith(("student.", "distill."))]
        if wrong:
            raise ValueError(f"recipe variant {self.name}: {wrong} are not `student.` or `distill.` keys")
        return self


DEFAULT_RECIPE_VARIANTS = [  # the plain fine-tune's learning rate for full fine-tuning, so distillation is the change
    RecipeVariant(name="full", overrides={"student.lora": None, "distill.learning_rate": 5e-5}),
    RecipeVariant(
        name="full_soft",
        overrides={
            "student.lora": None,
            "distill.learning_rate": 5e-5,
            "distill.alpha": 0.2,
            "distill.temperature": 4.0,
        },
    ),
    RecipeVariant(name="soft", overrides={"distill.alpha": 0.2, "distill.temperature": 4.0}),
]


class RecipeSearchSpec(StrictModel):
    """Recipe selection on validation (toolkit/distill/selection.py): the pack's recipe, the plain fine-tune
    baseline, these variants, then the best of them without each kind of filter sample; test never chooses."""

    enabled: bool = True
    variants: list[RecipeVariant] = DEFAULT_RECIPE_VARIANTS
    budget: float = Field(default=4.0, ge=0.0)  # the candidates after the first two: at most this x the recipe's time
    # above this many training rows the budget shrinks in proportion: on large data every candidate costs what the
    # recipe does, so selection would otherwise cost budget x a large run; None: the budget as given at every size
    budget_rows: int | None = Field(default=4_000, ge=1)
    min_steps: int = Field(default=600, ge=0)  # epochs raised so that a candidate may take this many steps ...
    max_epochs: float = Field(default=30.0, gt=0.0)  # ... up to this many; early stopping ends it sooner
    # on large data, epochs cut so that a candidate sees at most this many rows (at least one epoch); None: no cap
    max_samples: int | None = Field(default=MAX_TRAINING_SAMPLES, ge=1)
    finetune_learning_rate: float = Field(default=5e-5, gt=0.0, lt=1.0)  # the plain fine-tune baseline's
    teachers: bool = True  # the TF-IDF / tabular teachers compete too, and are shipped as they are if they win


class SplitSpec(StrictModel):
    validation: float = Field(default=0.15, gt=0.0, lt=0.5)
    test: float = Field(default=0.15, gt=0.0, lt=0.5)
    seed: int = 13


class RewardSpec(StrictModel):
    """The reward model: a sequence classifier with one output, trained on preference pairs by TRL's RewardTrainer."""

    model: str | None = None  # None: the student's model (a trained encoder learns preferences from few pairs)
    human_pairs: bool = True  # use the preference file (`--preferences`, or the pack's example pairs)
    agreement_pairs: int = Field(default=600, ge=0)  # built from teacher agreement with the gold labels
    generated_pairs: int = Field(default=300, ge=0)  # a real text preferred over one the SFT generator wrote
    held_out: float = Field(default=0.2, gt=0.0, lt=0.9)  # share of pairs kept aside for pairwise accuracy
    epochs: float = Field(default=2.0, gt=0.0)
    learning_rate: float = Field(default=5e-5, gt=0.0, lt=1.0)
    batch_size: int = Field(default=16, ge=1)
    max_length: int = Field(default=160, ge=16, le=4096)


class GeneratorSpec(StrictModel):
    """A small causal LM, SFT-tuned on the training texts conditioned on their label, then PPO- or GRPO-tuned (TRL)."""

    model: str | None = None  # None: a GPT-2 built from the sizes below with the student's tokenizer
    layers: int = Field(default=2, ge=1, le=48)
    hidden: int = Field(default=128, ge=16)
    heads: int = Field(default=4, ge=1)
    sft_epochs: float = Field(default=8.0, gt=0.0)
    sft_learning_rate: float = Field(default=2e-3, gt=0.0, lt=1.0)
    max_length: int = Field(default=128, ge=16, le=4096)  # tokens of prompt + text during SFT
    ppo_episodes: int = Field(default=320, ge=1)  # generated responses PPO learns from (20 updates of 16)
    ppo_batch_size: int = Field(default=16, ge=2)
    ppo_epochs: int = Field(default=2, ge=1)
    ppo_learning_rate: float = Field(default=2e-4, gt=0.0, lt=1.0)
    kl_coef: float = Field(default=0.05, ge=0.0)  # the KL penalty towards the SFT model
    confidence_weight: float = Field(default=1.0, ge=0.0)  # lambda: reward = RM score + lambda * ensemble confidence
    response_length: int = Field(default=96, ge=8)  # new tokens per generated text
    temperature: float = Field(default=0.8, gt=0.0, le=5.0)  # sampling, in PPO and for the candidates
    samples: int = Field(default=1024, ge=0)  # candidates generated after PPO, spread evenly over the labels
    # the online-RL step after SFT: TRL's PPO (policy + value model), or TRL's GRPO (no value model: each response is
    # scored against the other responses to the same prompt). The ppo_* sizes above set both; see BENCHMARKS.md
    algorithm: Literal["ppo", "grpo"] = "ppo"
    grpo_generations: int = Field(default=4, ge=2)  # GRPO only: responses per prompt compared with each other

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> GeneratorSpec:
        if self.model is None and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        return self

    @model_validator(mode="after")
    def _grpo_groups_fill_a_batch(self) -> GeneratorSpec:
        if self.algorithm == "grpo" and self.ppo_batch_size % self.grpo_generations:
            raise ValueError(
                f"ppo_batch_size ({self.ppo_batch_size}) must be a multiple of grpo_generations "
                f"({self.grpo_generations}) when algorithm is grpo: a batch holds whole groups of responses"
            )
        return self


class SelectionSpec(StrictModel):
    """How candidates (generated texts and the unlabeled pool) are kept: scored and cut per batch."""

    batch_size: int = Field(default=1024, ge=1)
    keep_share: float = Field(default=0.5, gt=0.0, le=1.0)  # top share by reward kept in each batch
    near_duplicate: float = Field(default=0.95, gt=0.0, le=1.0)  # cosine of character n-grams; at or above: a copy
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)  # the ensemble's confidence in the label it gives
    max_added: float = Field(default=1.0, ge=0.0)  # at most this many kept samples per training row
    # an absolute floor besides the batch's top share: a candidate's reward-model score must reach this quantile
    # of the real training texts' scores (0: no floor)
    reward_floor_quantile: float = Field(default=0.1, ge=0.0, lt=1.0)


class LabelIssueSpec(StrictModel):
    """Rows whose gold label the teacher ensemble confidently contradicts (confident learning)."""

    enabled: bool = True
    folds: int = Field(default=5, ge=2, le=20)  # out-of-fold probabilities for the teachers cheap to refit
    # on large data fewer folds (at least 2), so that one teacher's refits together train on at most this many rows
    max_refit_rows: int | None = Field(default=40_000, ge=1)
    drop: bool = False  # drop flagged training rows before distillation; only ever on the user's say-so


class FilterSpec(StrictModel):
    """Stage 3: reward model, PPO-tuned generator, batch selection and label-issue detection."""

    enabled: bool = True
    # the steps below are cut (filtering/budget.py) so that the stage takes about this share of the run; 0: as given.
    # A fifth: each step's minimum (one PPO batch, one generation batch) and the untimed selection can overrun it,
    # and the stage stays under a quarter then.
    budget_share: float = Field(default=0.2, ge=0.0, lt=1.0)
    use_for_distill: bool = True  # add the kept samples to the student's training set
    preferences: str | None = None  # JSONL of {prompt, chosen, rejected[, label]} pairs
    unlabeled: str | None = None  # a pool of unlabeled rows (same columns as the labeled file, no label)
    reward: RewardSpec = RewardSpec()
    generator: GeneratorSpec = GeneratorSpec()
    selection: SelectionSpec = SelectionSpec()
    label_issues: LabelIssueSpec = LabelIssueSpec()


class PruneSpec(StrictModel):
    """Loss-aware attention-head pruning: heads ranked by gradient importance on the training split, removed
    least important first while the primary metric on validation stays within `tolerance` of the unpruned one."""

    enabled: bool = True
    budget: float = Field(default=0.5, ge=0.0, lt=1.0)  # at most this share of all heads is removed
    step: float = Field(default=0.05, gt=0.0, le=0.5)  # share of all heads removed per try
    tolerance: float = Field(default=0.01, ge=0.0, le=1.0)  # allowed drop of the primary metric on validation
    importance_rows: int = Field(default=512, ge=8)  # training rows the head importance is estimated on
    # distillation on the training split after the cut; 0: none. Off by default: in 15 benchmark runs the recovered
    # weights beat the cut model on validation twice (by at most 0.007 macro F1), and the epoch cost 30 s of a
    # 20,000-row H200 run
    recovery_epochs: float = Field(default=0.0, ge=0.0)
    recovery_learning_rate: float = Field(default=5e-5, gt=0.0, lt=1.0)  # every weight trains (no LoRA) here


class LatencySpec(StrictModel):
    """How latency is measured: real texts from the test split, after warm-up, median over repeats."""

    texts: int = Field(default=100, ge=8)  # test texts timed one by one (batch 1) and in batches
    batch_size: int = Field(default=32, ge=2)
    warmup: int = Field(default=10, ge=0)
    repeats: int = Field(default=2, ge=1)  # p50 / p95 are already over `texts` timings; repeats guard a hiccup
    threads: int | None = Field(default=None, ge=1)  # None: every core of the machine


class CompressSpec(StrictModel):
    """Stage 6: merge LoRA, prune heads, quantize (PyTorch INT8, ONNX Runtime INT8 / INT4), measure, choose."""

    enabled: bool = True
    prune: PruneSpec = PruneSpec()
    torch_int8: bool = True  # PyTorch dynamic INT8 on the Linear layers
    onnx: bool = True  # ONNX export, with ONNX Runtime INT8 (and INT4 below) variants
    onnx_int4: bool = True  # weight-only INT4 (ONNX Runtime MatMulNBits), block size 32
    latency: LatencySpec = LatencySpec()


class FastSpec(StrictModel):
    """Reductions applied by `--fast`: a whole run on 2 CPU cores in a few minutes."""

    max_train_rows: int = Field(default=400, ge=10)
    max_length: int = Field(default=96, ge=8)
    teacher_epochs: float = Field(default=3.0, gt=0.0)
    student_epochs: float = Field(default=3.0, gt=0.0)
    reward_epochs: float = Field(default=1.0, gt=0.0)
    agreement_pairs: int = Field(default=300, ge=0)
    generated_pairs: int = Field(default=150, ge=0)
    generator_epochs: float = Field(default=4.0, gt=0.0)
    ppo_episodes: int = Field(default=160, ge=1)
    generated_samples: int = Field(default=256, ge=0)
    latency_texts: int = Field(default=100, ge=8)
    recipe_variants: int = Field(default=0, ge=0)  # variants tried under --fast (the fine-tune baseline always is)


class CpuSpec(StrictModel):
    """Defaults for a machine without a GPU, where a transformer row-pass costs 30-50x an H200 one: every
    transformer training (the student candidates, transformer teachers) sees at most `max_training_samples` rows x
    epochs (at least one epoch), so that a default run of 2,400 rows fits about 15 minutes on 2 cores
    (toolkit/device_defaults.py). None: the same rows as on a GPU."""

    max_training_samples: int | None = Field(default=4_000, ge=1)


class LabelSetSpec(StrictModel):
    """Split conformal label sets, class-conditional: each class's coverage holds on its own, calibrated on the
    validation split. A served label below the critical level whose set holds that level is escalated or referred."""

    alpha: float = Field(default=0.1, gt=0.0, lt=1.0)  # every class's set misses its true label at most this often
    critical_alpha: float | None = Field(default=None, gt=0.0, lt=1.0)  # the critical class's own, stricter alpha
    critical_in_set: Literal["escalate", "refer", "ignore"] = "refer"


class ScopeSpec(StrictModel):
    """Inputs unlike anything in training are referred, with the reason, whatever the model's confidence."""

    enabled: bool = True
    max_unknown_words: float = Field(default=0.5, gt=0.0, le=1.0)  # share of a text's words never seen in training
    min_words: int = Field(default=3, ge=1)  # shorter texts are not judged by their vocabulary
    max_unseen_script: float = Field(default=0.3, gt=0.0, le=1.0)  # share of letters in a script training lacks
    require_fields: bool = True  # no structured field at all, where nearly every training row had some


class DeferralWords(StrictModel):
    """How the report and notebooks name a case and whoever takes a referred one, in the domain's words."""

    cases: str = "cases"
    person: str = "a person"
    under: str = "placed below their true level"  # an ordinal pack's under-triage, e.g. "under-triaged"


ConfidenceScore = Literal["top_probability", "margin", "teacher_agreement"]


class DeferralSpec(StrictModel):
    """Selective prediction: the student answers where it is confident, else the teacher ensemble, else a person.
    Thresholds are tuned on validation for the largest coverage at which `targets` hold among answered cases."""

    enabled: bool = True
    targets: list[TargetSpec] = []
    scores: list[ConfidenceScore] = Field(  # candidates; the one chosen on validation is used
        default=["top_probability", "margin", "teacher_agreement"], min_length=1
    )
    ensemble: bool = True  # the teacher ensemble as the second step, where it can run at serving time (no paid API)
    label_sets: LabelSetSpec = LabelSetSpec()
    scope: ScopeSpec = ScopeSpec()
    coverage_tolerance: float = Field(
        default=0.05, ge=0.0, le=1.0
    )  # compress: most validation coverage a variant may lose
    latency_texts: int = Field(default=50, ge=1)  # test rows the cascade is timed on, one at a time
    words: DeferralWords = DeferralWords()


class ModelCardSpec(StrictModel):
    """What the pack says about use in `report/MODEL_CARD.md`."""

    intended_use: str = ""
    out_of_scope: str = ""
    warning: str = ""  # shown first, in bold (e.g. clinical decision support, never a replacement)


HOOK_NAMES = ("synthetic", "rules", "metrics")


class HooksSpec(StrictModel):
    """A pack's own Python functions, each `file.py:function` inside the pack folder. The signature each must have
    is the Protocol of the same name in toolkit/hooks.py (`SyntheticHook`, `RulesHook`, `MetricsHook`)."""

    synthetic: str | None = None  # generate(n_rows, seed) -> DataFrame in the pack's columns (example data)
    rules: str | None = None  # score(texts) -> (n, C) points per label (the `rules` teacher kind)
    metrics: str | None = None  # figures(y_true, probs, y_pred, config) -> {figure: value} (the pack's own figures)

    @model_validator(mode="before")
    @classmethod
    def _known_hooks(cls, data: Any) -> Any:
        # a typo such as `metric:` would otherwise drop the hook without a word; say which key and what is allowed
        unknown = [key for key in data if key not in HOOK_NAMES] if isinstance(data, dict) else []
        if unknown:
            raise ValueError(f"unknown hook {unknown[0]!r}; allowed hooks: {', '.join(HOOK_NAMES)}")
        return data

    def declared(self) -> dict[str, str]:
        """The hooks the pack declares, by name, e.g. `{"rules": "rules.py:score"}`."""
        return {name: getattr(self, name) for name in HOOK_NAMES if getattr(self, name) is not None}

    def __contains__(self, name: object) -> bool:
        return name in self.declared()

    def __getitem__(self, name: str) -> str:
        return self.declared()[name]


class PackConfig(StrictModel):
    """Everything a domain pack declares; `domains/<pack>/pack.yaml` is validated into this. A changed copy runs
    from Python as it is (`RunRequest` validates it again):

    >>> config = load_pack("medical_triage").config  # doctest: +SKIP
    >>> run(RunRequest(domain=config.model_copy(update={"description": "ED triage"}), fast=True))  # doctest: +SKIP
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    labels: list[LabelSpec] = Field(min_length=2)
    ordinal: bool = False
    critical_label: str | None = None
    example_data: str | None = None  # path relative to the repository root
    example_preferences: str | None = None  # used by the filter stage only when the run uses `example_data`
    example_unlabeled: str | None = None  # likewise: the example candidate pool
    columns: ColumnSpec = ColumnSpec()
    input_map: InputMapSpec = InputMapSpec()
    data_rules: DataRulesSpec = DataRulesSpec()
    render: RenderSpec = RenderSpec()
    targets: list[TargetSpec] = []
    cost_matrix: list[list[float]] | None = None  # rows: true label, columns: predicted label, in label order
    teachers: list[TeacherSpec] = Field(min_length=1)
    ensemble: EnsembleSpec = EnsembleSpec()
    student: StudentSpec = StudentSpec()
    distill: DistillSpec = DistillSpec()
    recipe_search: RecipeSearchSpec = RecipeSearchSpec()
    split: SplitSpec = SplitSpec()
    filter: FilterSpec = FilterSpec()
    compress: CompressSpec = CompressSpec()
    deferral: DeferralSpec = DeferralSpec()
    fast: FastSpec = FastSpec()
    cpu: CpuSpec = CpuSpec()
    model_card: ModelCardSpec = ModelCardSpec()
    hooks: HooksSpec = HooksSpec()  # hook name -> "file.py:function" inside the pack folder

    @model_validator(mode="after")
    def _labels_are_consistent(self) -> PackConfig:
        names = self.label_names
        if len(set(names)) != len(names):
            raise ValueError(f"labels: names must be unique, got {names}")
        if self.critical_label is not None and self.critical_label not in names:
            raise ValueError(f"critical_label: {self.critical_label!r} is not one of the labels {names}")
        for section, targets in (("targets", self.targets), ("deferral.targets", self.deferral.targets)):
            for target in targets:
                if target.label is not None and target.label not in names:
                    raise ValueError(f"{section}: label {target.label!r} is not one of the labels {names}")
                if not self.ordinal and target.metric.endswith("triage_rate"):
                    raise ValueError(f"{section}: under/over-triage rates need `ordinal: true` labels")
        if self.cost_matrix is not None:
            n = len(names)
            if len(self.cost_matrix) != n or any(len(row) != n for row in self.cost_matrix):
                raise ValueError(f"cost_matrix: must be {n} x {n} (true label rows, predicted label columns)")
            if any(cost < 0 for row in self.cost_matrix for cost in row):
                raise ValueError("cost_matrix: costs must be >= 0")
        field_names = {f.name for f in self.columns.fields}
        for _, placeholder, _, _ in string.Formatter().parse(self.render.template):
            if placeholder is not None and placeholder not in {"text", "fields", *field_names}:
                raise ValueError(
                    f"render.template: unknown placeholder {{{placeholder}}}; allowed: {{text}}, {{fields}}"
                    + "".join(f", {{{name}}}" for name in sorted(field_names))
                )
        teacher_names = [t.name for t in self.teachers]
        if len(set(teacher_names)) != len(teacher_names):
            raise ValueError(f"teachers: names must be unique, got {teacher_names}")
        phases = [p.name for p in self.distill.phases or []]
        if "medium" in phases and self.distill.intermediate is None:
            raise ValueError("distill.phases: a `medium` phase needs `distill.intermediate` (teacher, layer_map)")
        if self.distill.intermediate is not None:
            kinds = {t.name: t.kind for t in self.teachers}
            if kinds.get(self.distill.intermediate.teacher) != "hf":
                hf = [name for name, kind in kinds.items() if kind == "hf"]
                raise ValueError(
                    f"distill.intermediate.teacher: {self.distill.intermediate.teacher!r} is not an hf "
                    f"teacher of this pack; hf teachers: {hf}"
                )
        unknown = [name for name in self.ensemble.cheap or [] if name not in teacher_names]
        if unknown:
            raise ValueError(f"ensemble.cheap: {unknown} are not teachers; teachers: {teacher_names}")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


def _format_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    more = len(error.errors()) - 1
    suffix = f"; and {more} more problem(s)" if more else ""
    return f"{source}: key `{key}`: {message}{shown}{suffix}"


def validate_pack_config(data: dict[str, Any], source: str = "pack config") -> PackConfig:
    """Validate a pack config mapping; raise ConfigError naming the key, the value and what is allowed."""
    try:
        return PackConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def load_pack_config(path: str | Path) -> PackConfig:
    """Read and validate a `pack.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pack config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return validate_pack_config(data, str(path))


def apply_overrides(config: PackConfig, overrides: dict[str, Any], source: str = "overrides") -> PackConfig:
    """Return `config` with dotted-key overrides applied (e.g. {"distill.epochs": 2}), validated again."""
    data = config.model_dump()
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{source}: key `{dotted}`: `{part}` is not a config section")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ConfigError(f"{source}: key `{dotted}` does not exist")
        node[parts[-1]] = value
    return validate_pack_config(data, source)
