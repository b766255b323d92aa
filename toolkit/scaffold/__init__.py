"""`domain-distill init`: scaffold a new domain pack from the templates in this folder."""

from __future__ import annotations

import re
from pathlib import Path

from toolkit.errors import ConfigError

TEMPLATES = Path(__file__).parent
FILES = {
    "pack.yaml.tmpl": "pack.yaml",
    "synthetic.py.tmpl": "synthetic.py",
    "rules.py.tmpl": "rules.py",
    "metrics.py.tmpl": "metrics.py",
    "README.md.tmpl": "README.md",
}


def scaffold_pack(
    name: str, folder: Path, labels: list[str], critical: str | None = None, ordinal: bool = False
) -> Path:
    """Write `folder/name/` with a pack.yaml, its three hooks (a seeded example generator, a rule teacher, the
    pack's own figures) and a README.

    >>> scaffold_pack("insurance_claims", Path("domains"), ["routine", "review", "fraud"])  # doctest: +SKIP
    PosixPath('domains/insurance_claims')
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"pack name {name!r}: use lower-case letters, digits and underscores, starting with a letter")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ConfigError(f"--labels {','.join(labels)}: give at least two distinct labels")
    critical = critical or labels[-1]
    if critical not in labels:
        raise ConfigError(f"--critical {critical!r}: not one of the labels {labels}")
    target = folder / name
    if target.exists():
        raise ConfigError(f"{target}: already exists; choose another name or remove it first")
    values = {
        "name": name,
        "labels_yaml": "\n".join(f"  - name: {label}\n    description: describe {label}" for label in labels),
        "labels_list": repr(labels),
        "critical": critical,
        "ordinal": str(ordinal).lower(),
        "phrases": "\n".join(
            f'    "{label}": ["{label} sign one", "{label} sign two", "{label} sign three", "{label} sign four"],'
            for label in labels
        ),
        "keywords": "\n".join(f'    "{label}": ["{label} sign"],' for label in labels),
    }
    target.mkdir(parents=True)
    for template, output in FILES.items():
        (target / output).write_text((TEMPLATES / template).read_text().format(**values))
    return target
