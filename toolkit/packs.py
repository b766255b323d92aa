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
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.config import PackConfig, load_pack_config
from toolkit.errors import ConfigError

PACKS_ENV = "DOMAIN_DISTILL_PACKS"
REPO_ROOT = Path(__file__).resolve().parents[1]


def pack_search_path() -> list[Path]:
    """Folders searched for packs, first match wins: $DOMAIN_DISTILL_PACKS, ./domains, the toolkit's own domains."""
    extra = [Path(p) for p in os.environ.get(PACKS_ENV, "").split(os.pathsep) if p]
    candidates = [*extra, Path.cwd() / "domains", REPO_ROOT / "domains"]
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

    def hook(self, name: str) -> Callable[..., Any]:
        """Return the pack's function registered under `name` in `pack.yaml`'s `hooks`."""
        if name not in self.config.hooks:
            raise ConfigError(
                f"{self.root / 'pack.yaml'}: key `hooks.{name}` is missing",
                hint=f"hooks declared: {sorted(self.config.hooks) or 'none'}",
            )
        file_name, _, function_name = self.config.hooks[name].partition(":")
        path = self.root / file_name
        if not path.is_file() or not function_name:
            raise ConfigError(
                f"{self.root / 'pack.yaml'}: key `hooks.{name}`: expected 'file.py:function' inside the pack "
                f"folder (got {self.config.hooks[name]!r})"
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
    for folder in pack_search_path():
        candidate = folder / name
        if (candidate / "pack.yaml").is_file():
            return candidate
    raise ConfigError(
        f"domain pack {name!r} not found",
        hint=f"available packs: {', '.join(available_packs()) or 'none'}; searched "
        + ", ".join(str(p) for p in pack_search_path()),
    )


def load_pack(name_or_dir: str | Path) -> Pack:
    """Load a pack by name (searched on the pack path) or by its folder."""
    candidate = Path(name_or_dir)
    root = candidate if (candidate / "pack.yaml").is_file() else find_pack_dir(str(name_or_dir))
    return Pack(root=root.resolve(), config=load_pack_config(root / "pack.yaml"))
