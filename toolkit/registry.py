"""Named registries for what a pack may choose by name: teacher kinds and ensemble methods.

A registry maps a name to what it builds. An entry registers itself where it is defined (a decorator), so adding
one touches only its own module. The built-in entries are declared here by name and module, and that module is
imported on first use: the config layer can check a name (and list the allowed ones) without importing torch.

>>> from toolkit.registry import TEACHER_KINDS
>>> "sklearn" in TEACHER_KINDS.names()
True
>>> TEACHER_KINDS.get("sklearn").__name__  # doctest: +SKIP
'SklearnTextTeacher'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Generic, TypeVar

from toolkit.errors import ConfigError

T = TypeVar("T")


def allowed_list(names: list[str]) -> str:
    """`'a', 'b' or 'c'`: the allowed names as pydantic lists a `Literal`'s choices."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class Registry(Generic[T]):
    """Names to entries. `builtins` maps each built-in name to the module that registers it.

    >>> methods = Registry[type]("ensemble method", "ensemble.method")
    >>> @methods.register("median")
    ... class Median: ...
    >>> methods.get("median").__name__
    'Median'
    """

    def __init__(self, what: str, key: str, builtins: Mapping[str, str] | None = None) -> None:
        self.what = what  # e.g. "teacher kind", for messages
        self.key = key  # the config key that names an entry, e.g. "teachers.<n>.kind"
        self._builtins = dict(builtins or {})
        self._entries: dict[str, T] = {}

    def register(self, name: str, module: str | None = None) -> Callable[[T], T]:
        """A decorator that registers what it decorates under `name`; a name taken by something else is an error.
        `module`: where the entry is defined, when the entry is a record made elsewhere (default: its own)."""

        def decorate(entry: T) -> T:
            owner = self._builtins.get(name)
            module_ = module or getattr(entry, "__module__", None)
            if owner is not None and module_ != owner:
                raise ValueError(f"{self.what} {name!r} is built in ({owner}); choose another name")
            known = self._entries.get(name)
            if known is not None and _identity(known) != _identity(entry):
                raise ValueError(f"{self.what} {name!r} is already registered by {_identity(known)}")
            self._entries[name] = entry
            return entry

        return decorate

    def names(self) -> list[str]:
        """Every name a config may use: the built-in ones first, in their declared order, then the registered."""
        return [*self._builtins, *(name for name in self._entries if name not in self._builtins)]

    def check(self, name: str) -> str:
        """`name` itself if it is known; else a ValueError listing the allowed names (pydantic's wording)."""
        if name not in self._builtins and name not in self._entries:
            raise ValueError(f"Input should be {allowed_list(self.names())}")
        return name

    def get(self, name: str) -> T:
        """The entry registered under `name`, importing its built-in module on first use."""
        if name not in self._entries and name in self._builtins:
            importlib.import_module(self._builtins[name])
        if name not in self._entries:
            raise ConfigError(f"{self.key}: {name!r} is not a {self.what}; allowed: {allowed_list(self.names())}")
        return self._entries[name]

    @contextmanager
    def scope(self) -> Iterator[Registry[T]]:
        """Entries registered inside the `with` block are forgotten after it (a test's or a notebook's trials).

        >>> with TEACHER_KINDS.scope():  # doctest: +SKIP
        ...     register_teacher("keywords")(KeywordTeacher)
        """
        saved = dict(self._entries)
        try:
            yield self
        finally:
            # a built-in module first imported inside the block stays imported, so its entries must stay too
            builtin = {name: entry for name, entry in self._entries.items() if name in self._builtins}
            self._entries = {**saved, **builtin}

    def load_all(self) -> dict[str, T]:
        """Every entry by name, in `names()` order (built-in modules imported)."""
        return {name: self.get(name) for name in self.names()}


def _identity(entry: object) -> str:
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', repr(entry))}"


# The built-in entries: which module registers each. A kind added in its own module needs no line here: importing
# that module registers it (tests/test_registries.py does so).
TEACHER_KINDS: Registry[type] = Registry(
    "teacher kind",
    "teachers.<n>.kind",
    builtins={
        "sklearn": "toolkit.teachers.sklearn",
        "tabular": "toolkit.teachers.sklearn",
        "hf": "toolkit.teachers.hf",
        "llm": "toolkit.teachers.llm",
        "openai": "toolkit.teachers.openai_api",
        "rules": "toolkit.teachers.rules",
    },
)


def teacher_trait(kind: str, trait: str) -> bool:
    """Whether teacher kind `kind` declares `trait` (`cheap`, `shippable` or `paid`, on its class), importing a
    built-in kind's module on first use.

    >>> teacher_trait("sklearn", "shippable"), teacher_trait("hf", "cheap")  # doctest: +SKIP
    (True, False)
    """
    return bool(getattr(TEACHER_KINDS.get(kind), trait))


ENSEMBLE_METHODS: Registry[type] = Registry(
    "ensemble method",
    "ensemble.method",
    builtins={method: "toolkit.teachers.ensemble" for method in ("mean", "weighted", "confidence", "routing")},
)
