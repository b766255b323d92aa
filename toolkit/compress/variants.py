"""Compression variants by name: each is a builder registered with `@register_variant`, made from an earlier
variant (its `source`) when the pack's `compress` section enables it. The plan is the registered variants in order.

    @register_variant("onnx_int8", "dynamic INT8 (ONNX Runtime)", source="onnx_fp32", enabled=lambda c: c.onnx)
    def build_onnx_int8(job: VariantJob) -> dict:
        quantize_onnx_int8(job.source_folder, job.folder)
        return {}  # what the report says about how it was made
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.config import CompressSpec, PackConfig
from toolkit.registry import Registry

if TYPE_CHECKING:  # annotations only: the registry stays importable without the run machinery
    from toolkit.distill.fit import Split
    from toolkit.run_context import RunContext

CHECK_TEXTS = 64  # validation texts on which a merged / exported model must give the same logits
STUDENT = "student"  # the source of the first variant: the distilled student in the run folder


@dataclass(frozen=True)
class VariantJob:
    """What a builder gets: the run, the variant to write and the one it is made from, the student's tokenizer and
    the run's splits."""

    ctx: RunContext
    name: str
    source: str
    tokenizer: Any
    splits: dict[str, Split]

    @property
    def folder(self) -> Path:
        """Where the variant is written: `export/<name>/`."""
        return self.ctx.layout.export / self.name

    @property
    def source_folder(self) -> Path:
        return self.ctx.layout.export / self.source

    @property
    def checks(self) -> list[str]:
        """Validation texts on which a converted model must give the logits of its source."""
        return self.splits["validation"].texts[:CHECK_TEXTS]


Builder = Callable[[VariantJob], dict]


@dataclass(frozen=True)
class VariantRecipe:
    """A registered variant: what it is, what it is made from, when the pack builds it, and how."""

    name: str
    description: str
    source: Callable[[CompressSpec], str]
    enabled: Callable[[CompressSpec], bool]
    build: Builder


def _always(spec: CompressSpec) -> bool:
    return True


# The built-in variants, in build order (a variant comes after its source); their builders are in compress/stage.py.
COMPRESSION_VARIANTS: Registry[VariantRecipe] = Registry(
    "compression variant",
    "compress variants",
    builtins={
        name: "toolkit.compress.stage"
        for name in ("student_fp32", "pruned_fp32", "torch_int8", "onnx_fp32", "onnx_int8", "onnx_int4")
    },
)


def register_variant(
    name: str,
    description: str,
    source: str | Callable[[CompressSpec], str],
    enabled: Callable[[CompressSpec], bool] = _always,
) -> Callable[[Builder], Builder]:
    """Register the decorated `builder(job) -> dict` as the variant `name`, made from `source` (a variant name,
    "student", or a function of the `compress` section) when `enabled(config.compress)` is true."""

    def decorate(builder: Builder) -> Builder:
        source_of = source if callable(source) else (lambda spec: source)
        recipe = VariantRecipe(name, description, source_of, enabled, builder)
        COMPRESSION_VARIANTS.register(name, module=builder.__module__)(recipe)
        return builder

    return decorate


def variant_plan(config: PackConfig, teacher: str | None = None) -> list[tuple[str, str, str]]:
    """(variant, what it is, the variant it is built from), in build order: every enabled registered variant whose
    source is built before it. A scikit-learn teacher that won the recipe selection is the one variant: it is
    shipped as it is.

    >>> [name for name, _, _ in variant_plan(load_pack("finance_risk").config)]  # doctest: +SKIP
    ['student_fp32', 'pruned_fp32', 'torch_int8', 'onnx_fp32', 'onnx_int8', 'onnx_int4']
    """
    if teacher is not None:
        return [(teacher, "scikit-learn baseline, shipped (it beat every transformer on validation)", "teacher")]
    spec = config.compress
    plan: list[tuple[str, str, str]] = []
    for name, recipe in COMPRESSION_VARIANTS.load_all().items():
        source = recipe.source(spec)
        if recipe.enabled(spec) and (source == STUDENT or source in [built for built, _, _ in plan]):
            plan.append((name, recipe.description, source))
    return plan
