"""Find domain packs by name and load their config and hooks.

Core never imports a pack: a pack is a folder `domains/<name>/` holding `pack.yaml` and, optionally, small
Python files whose functions are exposed as named hooks (e.g. `synthetic: synthetic.py:generate`).

Examples
--------
>>> from toolkit.packs import load_pack
>>> pack = load_pack("finance_risk")  # doctest: +SKIP
>>> frame = pack.hook("synthetic")(n_rows=100, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from toolkit.config import PackConfig, load_pack_config
from toolkit.errors import ConfigError
from toolkit.hooks import MetricsHook, RulesHook, SyntheticHook

PACKS_ENV = "DOMAIN_DISTILL_PACKS"
REPO_ROOT = Path(__file__).resolve().parents[1]
PACK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a folder name, never a path
logger = logging.getLogger(__name__)


def pack_search_path() -> list[Path]:
    """Folders searched for packs, first match wins: the toolkit's own domains, $DOMAIN_DISTILL_PACKS, ./domains.

    The built-in packs come first so that a `domains/` folder in whatever directory a command runs from cannot
    replace their code; a shadowed pack of the same name is reported."""
    extra = [Path(p) for p in os.environ.get(PACKS_ENV, "").split(os.pathsep) if p]
    candidates = [REPO_ROOT / "domains", *extra, Path.cwd() / "domains"]
    unique: list[Path] = []
    for folder in candidates:
        if folder.resolve() not in [u.resolve() for u in unique]:
            unique.append(folder)
    return unique


def available_packs() -> list[str]:
    """Names of every pack found on the search path."""
    names = {p.parent.name for folder in pack_search_path() if folder.is_dir() for p in folder.glob("*/pack.yaml")}
    return sorted(names)


@dataclass(frozen=True)
class Pack:
    """A loaded domain pack: its folder, validated config and named hooks."""

    root: Path
    config: PackConfig

    @property
    def name(self) -> str:
        return self.config.name

    def has_hook(self, name: str) -> bool:
        return name in self.config.hooks

    @overload
    def hook(self, name: Literal["synthetic"]) -> SyntheticHook: ...
    @overload
    def hook(self, name: Literal["rules"]) -> RulesHook: ...
    @overload
    def hook(self, name: Literal["metrics"]) -> MetricsHook: ...
    @overload
    def hook(self, name: str) -> Callable[..., Any]: ...

    def hook(self, name: str) -> Callable[..., Any]:
        """The pack's function declared under `hooks.<name>` in `pack.yaml`, typed by its Protocol (toolkit/hooks.py).

        >>> load_pack("finance_risk").hook("rules")(["salary deposit"]).shape  # doctest: +SKIP
        (1, 3)
        """
        declared = self.config.hooks.declared()
        if name not in declared:
            raise ConfigError(
                f"{self.root / 'pack.yaml'}: key `hooks.{name}` is missing",
                hint=f"hooks declared: {sorted(declared) or 'none'}",
            )
        file_name, _, function_name = declared[name].partition(":")
        path = (self.root / file_name).resolve()
        # a hook runs code: it must be a file of the pack itself, not one a path reaches outside it
        if not path.is_file() or not function_name or not path.is_relative_to(self.root.resolve()):
            raise ConfigError(
                f"{self.root / 'pack.yaml'}: key `hooks.{name}`: expected 'file.py:function' inside the pack "
                f"folder (got {declared[name]!r})"
            )
        module_name = f"domain_pack_{self.name}_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, function_name):
            raise ConfigError(f"{path}: hook `{name}` names function `{function_name}`, which is not defined there")
        return getattr(module, function_name)

    def resolve_path(self, relative: str) -> Path:
        """A path from pack.yaml, relative to the pack folder or else to the repository root."""
        for base in (self.root, self.root.parent.parent, Path.cwd()):
            candidate = base / relative
            if candidate.exists():
                return candidate
        return self.root.parent.parent / relative


def find_pack_dir(name: str) -> Path:
    """The folder of the installed pack `name`, the first on `pack_search_path()`."""
    if not PACK_NAME.fullmatch(name):
        raise ConfigError(
            f"domain pack {name!r}: not a pack name (letters, digits, _ . -)",
            hint="give a pack name, or the path of a pack folder holding pack.yaml",
        )
    found = [folder / name for folder in pack_search_path() if (folder / name / "pack.yaml").is_file()]
    if len(found) > 1:
        logger.warning("pack %r: using %s; also found (not used): %s", name, found[0], ", ".join(map(str, found[1:])))
    if found:
        return found[0]
    raise ConfigError(
        f"domain pack {name!r} not found",
        hint=f"available packs: {', '.join(available_packs()) or 'none'}; searched "
        + ", ".join(str(p) for p in pack_search_path()),
    )


def load_pack(name_or_dir: str | Path) -> Pack:
    """Load a pack by name (searched on the pack path) or by its folder (a path: `./my_pack`, `domains/x`).

    >>> load_pack("medical_triage").config.label_names
    ['non_urgent', 'urgent', 'emergent']
    """
    candidate = Path(name_or_dir)
    # a bare name is always searched for, so that a folder of that name in the working directory cannot stand in
    is_name = isinstance(name_or_dir, str) and PACK_NAME.fullmatch(name_or_dir) is not None
    root = candidate if not is_name and (candidate / "pack.yaml").is_file() else find_pack_dir(str(name_or_dir))
    return Pack(root=root.resolve(), config=load_pack_config(root / "pack.yaml"))


def pack_of_run(run_domain: str, run_pack_dir: str, named: str | Path | None = None) -> Pack:
    """The pack a run folder is opened with. A run folder is data: the pack folder its manifest names is never
    loaded (its hooks are code), only an installed pack of the run's name, or the pack the user `named`.

    >>> pack_of_run("finance_risk", "/elsewhere/domains/finance_risk").name  # doctest: +SKIP
    'finance_risk'
    """
    if named is not None:
        return load_pack(named)
    try:
        pack = load_pack(find_pack_dir(run_domain))
    except ConfigError as error:
        raise ConfigError(
            f"this run was made with pack {run_domain!r} from {run_pack_dir}, which is not an installed pack",
            hint=f"name the pack yourself if you trust it: --domain {run_pack_dir}, or add its parent folder to "
            f"${PACKS_ENV} ({error.message})",
        ) from None
    if run_pack_dir and Path(run_pack_dir).resolve() != pack.root:
        logger.warning("run made with the pack at %s; using the installed pack at %s", run_pack_dir, pack.root)
    return pack
