"""Imports point down the layers that DESIGN.md draws: a module may import its own layer and the layers below it,
never one above (that is how the old `transformer_models -> compress.heads -> distill.student` cycle began).
Every import counts, a function's included: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom first. A module belongs to the layer of the longest prefix that names it; the stage modules each have a
# layer of their own, in run order, so a stage reads only the stages before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "toolkit.errors",
            "toolkit.registry",
            "toolkit.config",
            "toolkit.hooks",
            "toolkit.logs",
            "toolkit.quiet",
            "toolkit.packs",
            "toolkit.safe_io",
            "toolkit.manifest",
            "toolkit.run_layout",
            "toolkit.distributed",
            "toolkit.threads",
            "toolkit.timing",
            "toolkit.heap",
            "toolkit.fast",
            "toolkit.device_defaults",
        ),
    ),
    ("data", ("toolkit.data",)),
    ("models", ("toolkit.transformer_models",)),
    (
        "training",
        (
            "toolkit.distill.fit",
            "toolkit.distill.trainer",
            "toolkit.distill.losses",
            "toolkit.distill.batches",
            "toolkit.distill.best_epoch",
            "toolkit.distill.schedules",
            "toolkit.distill.student",
        ),
    ),
    ("teachers", ("toolkit.teachers",)),
    ("measures", ("toolkit.metrics", "toolkit.decision")),
    ("methods", ("toolkit.filtering", "toolkit.distill", "toolkit.compress")),
    ("run context", ("toolkit.run_context", "toolkit.decision.from_run")),
    ("stage: data", ("toolkit.data.stage",)),
    ("stage: teachers", ("toolkit.teachers.stage",)),
    ("stage: filter", ("toolkit.filtering.stage",)),
    ("stage: distill", ("toolkit.distill.stage",)),
    ("stage: evaluate", ("toolkit.metrics.stage",)),
    ("stage: compress", ("toolkit.compress.stage", "toolkit.compress.variants")),
    ("driver", ("toolkit.pipeline", "toolkit.run_request")),
    (
        "tools",
        (
            "toolkit.predict",
            "toolkit.metrics.evaluate_saved",
            "toolkit.explore",
            "toolkit.notebooks",
            "toolkit.scaffold",
            "toolkit.cli",
        ),
    ),
    ("public API", ("toolkit",)),  # toolkit/__init__.py
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest prefix naming `module`, or None when no prefix names it."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def imported_modules(path: Path) -> set[str]:
    """The toolkit modules `path` imports anywhere in its body (`from toolkit.x import y` names `toolkit.x.y` when
    that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "toolkit"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "toolkit":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


def test_every_toolkit_module_is_in_a_layer() -> None:
    unplaced = [module for module in MODULES if layer_of(module) is None]
    assert unplaced == [], "add them to LAYERS here and to the diagram in DESIGN.md"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_layer_and_those_below(module: str) -> None:
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer"
    upward = sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in imported_modules(MODULES[module])
        if target != "toolkit" and (layer_of(target) or 0) > own
    )
    assert upward == [], f"{module} ({LAYERS[own][0]}) imports from above: {', '.join(upward)}"


def test_the_check_sees_a_function_level_import(tmp_path: Path) -> None:
    source = tmp_path / "late.py"
    source.write_text("def load():\n    from toolkit.compress.heads import load_pruned\n    return load_pruned\n")
    assert imported_modules(source) == {"toolkit.compress.heads"}
    assert LAYERS[layer_of("toolkit.compress.heads")][0] == "methods"
    assert LAYERS[layer_of("toolkit.transformer_models")][0] == "models"
