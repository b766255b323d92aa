"""Apply a user's column map and label spellings so that their file meets the pack's contract unchanged.

--map "chiefcomplaint=text,acuity=label,subject_id=group,o2sat=spo2"
--map "*=text,risk=label"           (a table with no free text: every other column rendered as `name: value`)
--map "note=text,risk=label,*=fields"   (every other column a typed field: numeric or categorical, for the
                                         tabular teacher, rendered before the free text)
--map "temperature=temperature_c:F->C"  (a unit conversion into a numeric field: F->C, lb->kg or in->cm; it applies
                                         wherever the map does, in training and in predict)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.config import COLUMN_ROLES, FieldSpec, PackConfig, RenderSpec, validate_pack_config
from toolkit.errors import ConfigError, DataError

EVERY_OTHER_COLUMN = "*"
# Named unit conversions a column map may ask for (`column=field:F->C`): a fixed list, never an expression.
UNIT_CONVERSIONS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "F->C": lambda f: (f - 32) * 5 / 9,
    "lb->kg": lambda lb: lb * 0.45359237,
    "in->cm": lambda inches: inches * 2.54,
}


def parse_pairs(text: str, option: str) -> dict[str, str]:
    """`"a=b,c=d"` -> {"a": "b", "c": "d"}; a bad item names the option and shows the expected form."""
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{option} {item!r}: expected FROM=TO pairs separated by commas, e.g. complaint=text")
        pairs[key.strip()] = value.strip()
    return pairs


def input_map_overrides(
    column_map: str | None, label_map: str | None, drop_unlabeled: bool = False, drop_conflicts: bool = False
) -> dict[str, Any]:
    """Config overrides for the `--map` / `--labels` / `--drop-unlabeled` / `--drop-conflicts` options."""
    overrides: dict[str, Any] = {}
    if column_map:
        overrides["input_map.columns"] = parse_pairs(column_map, "--map")
    if label_map:
        overrides["input_map.labels"] = parse_pairs(label_map, "--labels")
    if drop_unlabeled:
        overrides["input_map.drop_unlabeled"] = True
    if drop_conflicts:
        overrides["input_map.drop_conflicting"] = True
    return overrides


def split_conversion(user_column: str, target: str) -> tuple[str, str | None]:
    """A column map target and its unit conversion, if any; an unknown conversion names the allowed ones.

    >>> split_conversion("temperature", "temperature_c:F->C"), split_conversion("o2sat", "spo2")
    (('temperature_c', 'F->C'), ('spo2', None))
    """
    name, sep, conversion = target.partition(":")
    if not sep:
        return target, None
    if conversion.strip() not in UNIT_CONVERSIONS:
        raise ConfigError(
            f"column map {user_column}={target}: unknown unit conversion {conversion.strip()!r}; "
            f"allowed: {', '.join(UNIT_CONVERSIONS)}"
        )
    return name.strip(), conversion.strip()


def _without_conversions(mapping: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(user column -> target, user column -> conversion) from a column map whose targets may carry `:F->C`."""
    split = {user_column: split_conversion(user_column, target) for user_column, target in mapping.items()}
    return {c: name for c, (name, _) in split.items()}, {c: conv for c, (_, conv) in split.items() if conv}


def convert_units(values: pd.Series, conversion: str, field: FieldSpec) -> pd.Series:
    """`values` with every number converted (rounded to whole numbers for an int field); anything that is not a
    number is kept as it is, so that validation still names it."""
    numbers = pd.to_numeric(values, errors="coerce")
    converted = UNIT_CONVERSIONS[conversion](numbers).round(0 if field.type == "int" else 4)
    return values.astype(object).where(numbers.isna(), converted)


def _role_column(role: str, config: PackConfig) -> str:
    columns = config.columns
    return {
        "text": columns.text,
        "label": columns.label,
        "id": columns.id or "id",
        "group": columns.group or "group",
        "split": columns.split or "split",
    }[role]


def apply_input_map(raw: pd.DataFrame, config: PackConfig, source: str) -> tuple[pd.DataFrame, PackConfig, list[str]]:
    """The user's table renamed to the pack's columns, the config with any group / split column set, and notes."""
    mapping = dict(config.input_map.columns)
    if not mapping:
        return raw, config, []
    mapping, conversions = _without_conversions(mapping)
    numeric_fields = {f.name: f for f in config.columns.fields if f.type != "category"}
    for user_column, conversion in conversions.items():
        if mapping[user_column] not in numeric_fields:
            raise ConfigError(
                f"column map {user_column}={mapping[user_column]}:{conversion}: a unit conversion needs a numeric "
                f"field of the {config.name} pack; numeric fields: {', '.join(numeric_fields) or '(none)'}"
            )
    field_names = [f.name for f in config.columns.fields]
    pack_columns = {config.columns.text, config.columns.label, *field_names}
    allowed = sorted(set(COLUMN_ROLES) | pack_columns)
    notes: list[str] = []
    for user_column, target in mapping.items():
        if user_column != EVERY_OTHER_COLUMN and user_column not in raw.columns:
            raise DataError(
                f"{source}: column map names column {user_column!r}, which is not in the file; "
                f"columns found: {list(raw.columns)}"
            )
        if target not in allowed and user_column != EVERY_OTHER_COLUMN:
            raise ConfigError(
                f"column map {user_column}={target}: {target!r} is neither a role nor a column of the "
                f"{config.name} pack; allowed: {', '.join(allowed)}"
            )
    if EVERY_OTHER_COLUMN in mapping:
        every = mapping.pop(EVERY_OTHER_COLUMN)
        if every not in ("text", "fields"):
            raise ConfigError(f"column map *={every}: `*` maps to `text` or `fields`")
        if every == "fields":
            config = with_typed_fields(raw, config, [c for c in raw.columns if c not in mapping])
            mapping, _ = _without_conversions(dict(config.input_map.columns))
            pack_columns |= {f.name for f in config.columns.fields}
            allowed = sorted(set(COLUMN_ROLES) | pack_columns)
            notes.append("`*=fields`: " + ", ".join(f"{f.name} ({f.type})" for f in config.columns.fields))
        for column in raw.columns:
            mapping.setdefault(column, "text")

    text_sources = [c for c, t in mapping.items() if t in ("text", config.columns.text)]
    out = pd.DataFrame(index=raw.index)
    if len(text_sources) > 1:
        out[config.columns.text] = [
            "; ".join(
                f"{c.replace('_', ' ')}: {v}"
                for c, v in zip(text_sources, values, strict=True)
                if isinstance(v, str) and v.strip() or not isinstance(v, str) and pd.notna(v)
            )
            for values in raw[text_sources].itertuples(index=False)
        ]
        notes.append(f"text rendered from {len(text_sources)} columns as `name: value` pairs")
    updates: dict[str, str] = {}
    for user_column, target in mapping.items():
        if user_column in text_sources and len(text_sources) > 1:
            continue
        name = _role_column(target, config) if target in COLUMN_ROLES else target
        if name in out.columns:
            raise ConfigError(f"column map: two columns map to {target!r}; map each role or field once")
        conversion = conversions.get(user_column)
        out[name] = (
            convert_units(raw[user_column], conversion, numeric_fields[name]) if conversion else raw[user_column]
        )
        if target in ("group", "split"):
            updates[target] = name
        notes.append(f"column {user_column!r} -> {name!r}" + (f" ({conversion})" if conversion else ""))
    for column in raw.columns:  # unmapped columns stay, so validation can report them as unused
        if column not in mapping and column not in out.columns:
            out[column] = raw[column]
    columns = config.columns.model_copy(update=updates)
    return out, config.model_copy(update={"columns": columns}), notes


NUMERIC_SHARE = 0.95  # a column whose filled values are numbers this often is numeric; the rest are categories


def typed_field(name: str, values: pd.Series) -> FieldSpec:
    """A numeric (int / float) or categorical field for one table column, from its values.

    >>> typed_field("age", pd.Series(["31", "45", None])).type, typed_field("job", pd.Series(["A1", "A2"])).type
    ('int', 'category')
    """
    filled = values.dropna()
    filled = filled[filled.astype(str).str.strip() != ""]
    numbers = pd.to_numeric(filled, errors="coerce")
    if len(filled) and numbers.notna().mean() >= NUMERIC_SHARE:
        integral = bool((numbers.dropna() % 1 == 0).all())
        return FieldSpec(name=name, type="int" if integral else "float", required=False)
    return FieldSpec(name=name, type="category", required=False)


def with_typed_fields(raw: pd.DataFrame, config: PackConfig, columns: list[str]) -> PackConfig:
    """`*=fields`: each of `columns` becomes a typed field of the config, mapped explicitly by name, so that the
    types found in the training file hold for every later file (predict never guesses again). Fields are
    rendered before a long free text then, so that truncation cannot cut them off."""
    known = {f.name for f in config.columns.fields}
    added = [typed_field(c, raw[c]) for c in columns if c not in known]
    mapping = {k: v for k, v in config.input_map.columns.items() if k != EVERY_OTHER_COLUMN}
    mapping.update({f.name: f.name for f in added})
    render = config.render
    if render.template == RenderSpec().template:
        render = render.model_copy(update={"template": "{fields} | {text}"})
    return config.model_copy(
        update={
            "columns": config.columns.model_copy(update={"fields": [*config.columns.fields, *added]}),
            "input_map": config.input_map.model_copy(update={"columns": mapping}),
            "render": render,
        }
    )


def input_contract(config: PackConfig) -> dict:
    return {key: getattr(config, key).model_dump(mode="json") for key in ("columns", "input_map", "render")}


def read_input_contract(config: PackConfig, path: Path) -> PackConfig:
    """`config` with the columns, input map and rendering a run's data stage fixed (plain JSON, no code)."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    return validate_pack_config({**config.model_dump(mode="json"), **stored}, str(path))
